-- When a symbol was last described from Polygon's ticker details (SIC code, sector,
-- industry, market cap): a load registers symbols from the reference list and leaves the
-- details to spare requests.
ALTER TABLE symbols ADD COLUMN described_at TEXT;
-- Rows from before were registered from ticker details.
UPDATE symbols SET described_at = refreshed_at WHERE sic_code IS NOT NULL;
