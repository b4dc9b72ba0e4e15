-- When a symbol was last described from Polygon's ticker details (SIC code, sector,
-- industry, market cap): a load registers symbols from the reference list and leaves the
-- details to spare requests. TickStock's `symbols` has `sic_updated_at` for this and is
-- not changed.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'symbols'
                      AND column_name = 'last_updated_utc') THEN
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS described_at TIMESTAMPTZ;
        -- Rows from before were registered from ticker details.
        UPDATE symbols SET described_at = refreshed_at
         WHERE described_at IS NULL AND sic_code IS NOT NULL;
    END IF;
END
$$;
