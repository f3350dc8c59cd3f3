-- Facts about the store itself. `main_key_check`: a known text sealed under the main key, so that hookd refuses
-- to start with a key that cannot open the secrets (see src/store/sealed.rs).
CREATE TABLE meta (
    name   TEXT COLLATE "C" PRIMARY KEY,
    value  TEXT NOT NULL
);
