-- Universe environments (an SQLite file holds one: DEFAULT) and the ticker details a loaded
-- symbol is registered with.
ALTER TABLE definition_groups ADD COLUMN environment TEXT NOT NULL DEFAULT 'DEFAULT';
ALTER TABLE symbols ADD COLUMN sic_code TEXT;
ALTER TABLE symbols ADD COLUMN sic_description TEXT;
ALTER TABLE symbols ADD COLUMN sector TEXT;
ALTER TABLE symbols ADD COLUMN industry TEXT;
ALTER TABLE symbols ADD COLUMN list_date TEXT;
ALTER TABLE symbols ADD COLUMN market_cap REAL;
ALTER TABLE symbols ADD COLUMN weighted_shares_outstanding REAL;
ALTER TABLE symbols ADD COLUMN total_employees INTEGER;
ALTER TABLE symbols ADD COLUMN refreshed_at TEXT;
