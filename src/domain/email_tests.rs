//! Table tests for `EmailAddress` and `AddressHasher`.

use super::*;
use EmailError::*;

/// One table row: the input and either its `as_str()` or its error.
type Case = (String, Result<String, EmailError>);

fn good(input: &str, expected: &str) -> Case {
    (input.to_owned(), Ok(expected.to_owned()))
}

fn bad(input: &str, error: EmailError) -> Case {
    (input.to_owned(), Err(error))
}

/// A valid input that parses to itself.
fn same(input: String) -> Case {
    (input.clone(), Ok(input))
}

fn local(n: usize) -> String {
    "a".repeat(n)
}

/// An address of exactly `total` octets: 64-octet local part and a
/// domain of 63-octet labels ending in `.jp`.
fn address_of_len(total: usize) -> String {
    let mut domain = String::from("jp");
    let mut fill = total - MAX_LOCAL_PART_LEN - 1 - domain.len();
    while fill > 0 {
        // Each label costs its length plus a dot.
        let n = (fill - 1).min(MAX_LABEL_LEN);
        domain = format!("{}.{domain}", "b".repeat(n));
        fill -= n + 1;
    }
    format!("{}@{domain}", local(MAX_LOCAL_PART_LEN))
}

fn table() -> Vec<Case> {
    let addr_254 = address_of_len(254);
    let addr_255 = address_of_len(255);
    assert_eq!((addr_254.len(), addr_255.len()), (254, 255));
    vec![
        // Plain, case and whitespace.
        good("taro@example.jp", "taro@example.jp"),
        good("Taro.Yamada@Example.JP", "Taro.Yamada@example.jp"),
        good("  taro@example.jp \t\r\n", "taro@example.jp"),
        good("a@b.co", "a@b.co"),
        good(
            "first.last@sub.example.co.jp",
            "first.last@sub.example.co.jp",
        ),
        good("o'brien@example.ie", "o'brien@example.ie"),
        good(
            "!#$%&'*+-/=?^_`{|}~@example.com",
            "!#$%&'*+-/=?^_`{|}~@example.com",
        ),
        good("taro+news@example.jp", "taro+news@example.jp"),
        good("t.a.r.o+x@googlemail.com", "t.a.r.o+x@googlemail.com"),
        good("Taro+Spam@GMail.Com", "Taro+Spam@gmail.com"),
        // Japanese and other IDNs, full-width forms.
        good("taro@例え.jp", "taro@xn--r8jz45g.jp"),
        good("info@日本語.jp", "info@xn--wgv71a119e.jp"),
        good("user@お名前.com", "user@xn--t8jx73hngb.com"),
        good("user@例え.テスト", "user@xn--r8jz45g.xn--zckzah"),
        good("info@日本語。jp", "info@xn--wgv71a119e.jp"),
        good("taro@ＥＸＡＭＰＬＥ.jp", "taro@example.jp"),
        good("x@XN--R8JZ45G.jp", "x@xn--r8jz45g.jp"),
        bad("ｔａｒｏ@example.jp", NonAsciiLocalPart),
        bad("太郎@example.jp", NonAsciiLocalPart),
        bad("user@xn--zz.jp", InvalidDomain),
        bad("user@ex\u{FFFD}ample.jp", InvalidDomain),
        // Lengths.
        same(format!("{}@example.jp", local(64))),
        (format!("{}@example.jp", local(65)), Err(LocalPartTooLong)),
        same(addr_254),
        (addr_255, Err(TooLong)),
        (format!("u@{}.jp", "x".repeat(2000)), Err(TooLong)),
        same(format!("u@{}.jp", "c".repeat(63))),
        (format!("u@{}.jp", "c".repeat(64)), Err(DomainLabelTooLong)),
        // Structure.
        bad("", Empty),
        bad(" \t ", Empty),
        bad("taroexample.jp", MissingAt),
        bad("taro@@example.jp", MultipleAt),
        bad("a@b@example.jp", MultipleAt),
        bad("@example.jp", MissingLocalPart),
        bad("taro@", MissingDomain),
        bad("Taro <taro@example.jp>", DisplayNameNotAllowed),
        bad("<taro@example.jp>", DisplayNameNotAllowed),
        bad("\"a b\"@x.jp", QuotedLocalPartNotAllowed),
        bad("\"taro\"@example.jp", QuotedLocalPartNotAllowed),
        bad("taro(comment)@example.jp", CommentNotAllowed),
        bad("taro yamada@example.jp", ContainsWhitespace),
        bad("taro@exam ple.jp", ContainsWhitespace),
        bad("taro\u{3000}@example.jp", ContainsWhitespace),
        bad("taro\u{7}@example.jp", ContainsControlCharacter),
        bad("taro@example.jp\0", ContainsControlCharacter),
        // Local part dots and characters.
        bad(".taro@example.jp", InvalidLocalPart),
        bad("taro.@example.jp", InvalidLocalPart),
        bad("ta..ro@example.jp", InvalidLocalPart),
        bad("ta,ro@example.jp", InvalidLocalPart),
        bad("ta\\ro@example.jp", InvalidLocalPart),
        // Domain rules.
        bad("user@[192.0.2.1]", DomainLiteralNotAllowed),
        bad("user@localhost", DomainNotQualified),
        good("user@my-host.example.jp", "user@my-host.example.jp"),
        good("user@123.example.jp", "user@123.example.jp"),
        bad("user@-example.jp", InvalidDomainLabel),
        bad("user@example-.jp", InvalidDomainLabel),
        bad("user@example.jp-", InvalidDomainLabel),
        bad("user@example..jp", InvalidDomainLabel),
        bad("user@.example.jp", InvalidDomainLabel),
        bad("user@example.jp.", InvalidDomainLabel),
        bad("user@exa_mple.jp", InvalidDomainLabel),
        bad("user@example.123", NumericTld),
        bad("user@192.0.2.1", NumericTld),
    ]
}

#[test]
fn table_of_inputs() {
    let table = table();
    assert!(table.len() >= 40);
    for (input, want) in &table {
        let got = EmailAddress::parse(input);
        match (want, &got) {
            (Ok(expected), Ok(email)) => {
                assert_eq!(email.as_str(), expected, "input {input:?}");
                assert!(email.as_str().len() <= MAX_ADDRESS_LEN);
                // Our rules are stricter than the email_address crate's.
                assert!(
                    email_address::EmailAddress::is_valid(email.as_str()),
                    "email_address rejects {input:?}"
                );
            }
            (Err(expected), Err(err)) => assert_eq!(err, expected, "input {input:?}"),
            (Ok(_), Err(err)) => panic!("{input:?} rejected: {err}"),
            (Err(expected), Ok(email)) => {
                panic!("{input:?} accepted as {email}, expected {expected:?}")
            }
        }
    }
}

#[test]
fn error_messages_do_not_echo_input() {
    for (input, want) in table() {
        if let (Err(_), Err(err)) = (want, EmailAddress::parse(&input)) {
            let message = err.to_string();
            let probe = input.trim();
            if probe.len() > 4 {
                assert!(!message.contains(probe), "{message:?} echoes input");
            }
        }
    }
}

#[test]
fn parts_and_display() {
    let email = EmailAddress::parse("Taro@例え.JP").unwrap();
    assert_eq!(email.local_part(), "Taro");
    assert_eq!(email.domain(), "xn--r8jz45g.jp");
    assert_eq!(email.to_string(), "Taro@xn--r8jz45g.jp");
    assert_eq!(
        "Taro@例え.JP".parse::<EmailAddress>().unwrap().as_str(),
        email.as_str()
    );
}

#[test]
fn identity_is_case_insensitive() {
    let upper = EmailAddress::parse("Taro.Yamada@Example.JP").unwrap();
    let lower = EmailAddress::parse("taro.yamada@example.jp").unwrap();
    assert_eq!(upper.identity(), "taro.yamada@example.jp");
    assert_eq!(upper.identity(), lower.identity());
    assert_eq!(upper, lower);
    // Only case is folded: dots and tags still make a different identity.
    let dotted = EmailAddress::parse("taroyamada@example.jp").unwrap();
    assert_ne!(dotted.identity(), lower.identity());
}

#[test]
fn equal_addresses_hash_equal() {
    let mut set = std::collections::HashSet::new();
    set.insert(EmailAddress::parse("Taro@Example.JP").unwrap());
    assert!(set.contains(&EmailAddress::parse("taro@example.jp").unwrap()));
}

#[test]
fn abuse_identity_strips_tags_and_gmail_dots() {
    let same = [
        "t.a.r.o+x@googlemail.com",
        "taro@gmail.com",
        "Ta.Ro@GMail.com",
        "taro+news+more@gmail.com",
    ];
    for input in same {
        let email = EmailAddress::parse(input).unwrap();
        assert_eq!(email.abuse_identity(), "taro@gmail.com", "input {input:?}");
    }
    let other = |input: &str| EmailAddress::parse(input).unwrap().abuse_identity();
    // Dots matter outside Gmail, tags never do.
    assert_eq!(other("Ta.Ro+x@Example.jp"), "ta.ro@example.jp");
    assert_eq!(other("+x@example.jp"), "+x@example.jp");
    assert_eq!(other("taro@例え.jp"), "taro@xn--r8jz45g.jp");
}

#[test]
fn debug_masks_the_address() {
    let email = EmailAddress::parse("taro.yamada@example.jp").unwrap();
    assert_eq!(email.masked(), "t***@example.jp");
    let debug = format!("{email:?}");
    assert!(debug.contains("t***@example.jp"), "{debug}");
    assert!(!debug.contains("taro"), "{debug}");
    assert!(!format!("{:?}", Ok::<_, EmailError>(email)).contains("yamada"));
}

const PEPPER: &[u8] = b"0123456789abcdef0123456789abcdef";

#[test]
fn address_key_is_stable_hex() {
    let hasher = AddressHasher::new(PEPPER);
    let email = EmailAddress::parse("taro@example.jp").unwrap();
    let key = hasher.address_key(&email);
    // Pinned value: changing it would orphan every stored key.
    // printf 'taro@example.jp' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
    assert_eq!(
        key,
        "d1f8fd2de4227cf7508eaf5d40a12baf265161a60fa579b26c7c0fc5a9d2dc6b"
    );
    assert_eq!(key, hasher.address_key(&email));
    assert_eq!(key, hasher.clone().address_key(&email));
}

#[test]
fn address_key_ignores_case() {
    let hasher = AddressHasher::new(PEPPER);
    let upper = EmailAddress::parse("Taro@Example.JP").unwrap();
    let lower = EmailAddress::parse("taro@example.jp").unwrap();
    assert_eq!(hasher.address_key(&upper), hasher.address_key(&lower));
}

#[test]
fn address_key_depends_on_pepper() {
    let email = EmailAddress::parse("taro@example.jp").unwrap();
    let a = AddressHasher::new(PEPPER).address_key(&email);
    let b = AddressHasher::new(b"another pepper, another key space").address_key(&email);
    assert_ne!(a, b);
}

#[test]
fn abuse_key_folds_gmail_variants() {
    let hasher = AddressHasher::new(PEPPER);
    let dotted = EmailAddress::parse("t.a.r.o+x@googlemail.com").unwrap();
    let plain = EmailAddress::parse("taro@gmail.com").unwrap();
    assert_eq!(hasher.abuse_key(&dotted), hasher.abuse_key(&plain));
    assert_ne!(hasher.address_key(&dotted), hasher.address_key(&plain));
    // The "abuse:" prefix keeps the two key spaces apart.
    assert_ne!(hasher.abuse_key(&plain), hasher.address_key(&plain));
}

#[test]
fn hasher_debug_hides_the_key() {
    let debug = format!("{:?}", AddressHasher::new(PEPPER));
    assert_eq!(debug, "AddressHasher { .. }");
}

#[test]
fn a_plain_host_name_parses_as_uts_46_maps_it() {
    // The fast path skips IDNA for these; the answer must be IDNA's.
    for domain in [
        "example.jp",
        "Example.JP",
        "mail-1.example.co.jp",
        "ab--cd.example.com",
        "0.example.jp",
        "XN--ZCKZAH.jp",
        "xn--zckzah.jp",
    ] {
        let parsed = EmailAddress::parse(&format!("taro@{domain}")).unwrap();
        let idna = idna::domain_to_ascii(domain).unwrap().to_ascii_lowercase();
        assert_eq!(parsed.domain(), idna, "{domain}");
    }
    assert_eq!(
        EmailAddress::parse("taro@xn--a.jp").unwrap_err(),
        InvalidDomain,
        "punycode is still decoded and checked"
    );
}
