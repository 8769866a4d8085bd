-- Encryption at rest of uploaded files (issue 10): `content` holds AES-256-GCM ciphertext
-- sealed with the organisation's data key, which is kept wrapped by a master key outside
-- PostgreSQL (see crates/api/src/at_rest.rs); `content_nonce` is that object's random nonce.
-- A row without a nonce was stored before this migration and is still plaintext until
-- `thrive-api provision` seals it (the API reads both).
alter table files add column content_nonce bytea
    check (content_nonce is null or octet_length(content_nonce) = 12);
