CREATE INDEX subscriptions_address_bytes ON subscriptions (unhex(address_key));
DROP INDEX subscriptions_check;
