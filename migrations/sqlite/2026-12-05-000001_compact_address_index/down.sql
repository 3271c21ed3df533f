CREATE INDEX subscriptions_address ON subscriptions (sender_id, address_key);
DROP INDEX subscriptions_address_bytes;
