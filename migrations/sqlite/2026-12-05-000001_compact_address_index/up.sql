-- The compliance check's lookup by a 32-byte key instead of 136 characters of text. The
-- unique index (sender_id, list_id, address_key) compares two 36-character ids that are the
-- same for every row of a list before it reaches the address; at 1,000,000 subscriptions
-- that comparison and the pages of the wide index were most of a check's time. This index
-- also serves an address's subscriptions across lists (subject access, erasure), so the
-- wider (sender_id, address_key) index goes.
CREATE INDEX subscriptions_address_bytes ON subscriptions (unhex(address_key));
DROP INDEX subscriptions_address;
