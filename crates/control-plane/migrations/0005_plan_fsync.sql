-- Each plan's fsync policy, which nodes apply per database: 'always' (a reply leaves only after
-- its write is fsynced) or 'everysec' (fsynced about once a second). Portable SQL like 0001.
-- The fixed plans pay for the stronger guarantee; free and payg are fsynced every second.
ALTER TABLE plans ADD COLUMN fsync TEXT NOT NULL DEFAULT 'everysec';
UPDATE plans SET fsync = 'always' WHERE name LIKE 'fixed-%';
