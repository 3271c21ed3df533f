DROP INDEX consents_network;
ALTER TABLE consents DROP COLUMN network_key;
DROP TABLE sender_activity;
DROP TABLE sender_standing;
DROP TABLE sent_mails;
DROP TABLE complaints;
