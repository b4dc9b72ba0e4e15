-- Universe environments and the ticker details a loaded symbol is registered with.
-- Only tables this app created are changed: TickStock's `definition_groups` already has its
-- `environment` (and a `metadata` column, which ours lacks), and TickStock's `symbols`
-- carries the details under its own names (`last_updated_utc`, `currency_name`, ...).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'definition_groups'
                      AND column_name = 'metadata') THEN
        ALTER TABLE definition_groups ADD COLUMN IF NOT EXISTS environment VARCHAR(10) NOT NULL DEFAULT 'DEFAULT';
        ALTER TABLE definition_groups DROP CONSTRAINT IF EXISTS definition_groups_name_key;
        CREATE UNIQUE INDEX IF NOT EXISTS definition_groups_name_type_environment
            ON definition_groups (name, type, environment);
    END IF;

    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'symbols'
                      AND column_name = 'last_updated_utc') THEN
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS sic_code TEXT;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS sic_description TEXT;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS sector TEXT;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS industry TEXT;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS list_date DATE;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS market_cap DOUBLE PRECISION;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS weighted_shares_outstanding DOUBLE PRECISION;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS total_employees BIGINT;
        ALTER TABLE symbols ADD COLUMN IF NOT EXISTS refreshed_at TIMESTAMPTZ;
    END IF;
END
$$;
