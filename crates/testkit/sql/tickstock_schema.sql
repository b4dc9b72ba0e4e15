-- A database shaped like a real TickStock installation (TickStockAppV2 at 864dd0c), for
-- tests that must work against TickStock's own tables as they are: surrogate ids,
-- DECIMAL(12,4) prices, BIGINT volume, naive TIMESTAMP holding UTC, `environment` on the
-- universe groups with a CHECK, and TickStock's wide `symbols` table.

CREATE TABLE definition_groups (
    id               SERIAL PRIMARY KEY,
    name             VARCHAR(100) NOT NULL,
    type             VARCHAR(50)  NOT NULL
                     CHECK (type IN ('ETF', 'THEME', 'SECTOR', 'SEGMENT', 'CUSTOM', 'UNIVERSE')),
    description      TEXT,
    metadata         JSONB,
    liquidity_filter JSONB,
    environment      VARCHAR(10)  NOT NULL CHECK (environment IN ('DEFAULT', 'TEST', 'UAT', 'PROD')),
    created_at       TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at       TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    last_update      TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_group UNIQUE (name, type, environment)
);

CREATE TABLE group_memberships (
    id         SERIAL PRIMARY KEY,
    group_id   INTEGER NOT NULL REFERENCES definition_groups (id) ON DELETE CASCADE,
    symbol     VARCHAR(50) NOT NULL,
    weight     NUMERIC(5, 4),
    metadata   JSONB,
    added_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_membership UNIQUE (group_id, symbol)
);

CREATE TABLE ohlcv_daily (
    id           BIGSERIAL PRIMARY KEY,
    symbol       VARCHAR(10) NOT NULL,
    date         DATE NOT NULL,
    open         DECIMAL(12, 4),
    high         DECIMAL(12, 4),
    low          DECIMAL(12, 4),
    close        DECIMAL(12, 4),
    volume       BIGINT,
    transactions INTEGER,
    created_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT now(),
    CONSTRAINT ohlcv_daily_symbol_date_key UNIQUE (symbol, date)
);

CREATE TABLE ohlcv_1min (
    id           BIGSERIAL PRIMARY KEY,
    symbol       VARCHAR(10) NOT NULL,
    "timestamp"  TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    open         DECIMAL(12, 4),
    high         DECIMAL(12, 4),
    low          DECIMAL(12, 4),
    close        DECIMAL(12, 4),
    volume       BIGINT,
    transactions INTEGER,
    created_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT now(),
    CONSTRAINT ohlcv_1min_symbol_timestamp_key UNIQUE (symbol, "timestamp")
);

CREATE TABLE ohlcv_hourly (
    id           BIGSERIAL PRIMARY KEY,
    symbol       VARCHAR(10) NOT NULL,
    "timestamp"  TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    open         DECIMAL(12, 4),
    high         DECIMAL(12, 4),
    low          DECIMAL(12, 4),
    close        DECIMAL(12, 4),
    volume       BIGINT,
    transactions INTEGER,
    created_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT now(),
    CONSTRAINT ohlcv_hourly_symbol_timestamp_key UNIQUE (symbol, "timestamp")
);

CREATE TABLE ohlcv_weekly (
    id           BIGSERIAL PRIMARY KEY,
    symbol       VARCHAR(10) NOT NULL,
    week_start   DATE NOT NULL,
    open         DECIMAL(12, 4),
    high         DECIMAL(12, 4),
    low          DECIMAL(12, 4),
    close        DECIMAL(12, 4),
    volume       BIGINT,
    created_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT now(),
    CONSTRAINT ohlcv_weekly_symbol_week_start_key UNIQUE (symbol, week_start)
);

CREATE TABLE ohlcv_monthly (
    id           BIGSERIAL PRIMARY KEY,
    symbol       VARCHAR(10) NOT NULL,
    month_start  DATE NOT NULL,
    open         DECIMAL(12, 4),
    high         DECIMAL(12, 4),
    low          DECIMAL(12, 4),
    close        DECIMAL(12, 4),
    volume       BIGINT,
    created_at   TIMESTAMP WITHOUT TIME ZONE DEFAULT now(),
    CONSTRAINT ohlcv_monthly_symbol_month_start_key UNIQUE (symbol, month_start)
);

CREATE TABLE symbols (
    symbol                      VARCHAR(20) PRIMARY KEY,
    name                        VARCHAR(100),
    exchange                    VARCHAR(20),
    last_updated                TIMESTAMP WITHOUT TIME ZONE,
    market                      VARCHAR(20),
    locale                      VARCHAR(10),
    currency_name               VARCHAR(10),
    currency_symbol             VARCHAR(5),
    type                        VARCHAR(20),
    active                      BOOLEAN,
    cik                         VARCHAR(20),
    composite_figi              VARCHAR(50),
    share_class_figi            VARCHAR(50),
    last_updated_utc            TIMESTAMPTZ,
    market_cap                  BIGINT,
    weighted_shares_outstanding BIGINT,
    etf_type                    VARCHAR(50),
    aum_millions                NUMERIC,
    expense_ratio               NUMERIC,
    underlying_index            VARCHAR(100),
    correlation_reference       VARCHAR(10),
    fmv_supported               BOOLEAN,
    creation_unit_size          INTEGER,
    dividend_frequency          VARCHAR(20),
    inception_date              DATE,
    net_assets                  BIGINT,
    primary_exchange            VARCHAR(20),
    issuer                      VARCHAR(100),
    average_spread              NUMERIC,
    daily_volume_avg            BIGINT,
    premium_discount_avg        NUMERIC,
    tracking_error              NUMERIC,
    sic_code                    VARCHAR(10),
    sic_description             TEXT,
    sector                      VARCHAR(50),
    industry                    VARCHAR(100),
    country                     VARCHAR(5),
    total_employees             INTEGER,
    list_date                   DATE,
    sic_updated_at              TIMESTAMP WITHOUT TIME ZONE
);

-- Universes as an installation has them: the same names in two environments with
-- different members, an ETF group holding its fund's constituents, and none of the
-- universes this app ships (sp500, nasdaq100, dow30, etf).
INSERT INTO definition_groups (name, type, description, environment) VALUES
    ('tech_leaders', 'UNIVERSE', 'Tech leaders', 'DEFAULT'),
    ('tech_leaders', 'UNIVERSE', 'Tech leaders (test)', 'TEST'),
    ('SPY', 'ETF', 'SPDR S&P 500 ETF holdings', 'DEFAULT'),
    ('SPY', 'ETF', 'SPDR S&P 500 ETF holdings (test)', 'TEST'),
    ('semis', 'THEME', 'Semiconductors (a theme, not a universe)', 'DEFAULT');

INSERT INTO group_memberships (group_id, symbol, weight)
SELECT g.id, m.symbol, m.weight
  FROM definition_groups g
  JOIN (VALUES
      ('tech_leaders', 'DEFAULT', 'AAPL', 0.4000),
      ('tech_leaders', 'DEFAULT', 'MSFT', 0.3500),
      ('tech_leaders', 'DEFAULT', 'NVDA', 0.2500),
      ('tech_leaders', 'TEST',    'TSTA', NULL),
      ('tech_leaders', 'TEST',    'TSTB', NULL),
      ('SPY',          'DEFAULT', 'AAPL', 0.0700),
      ('SPY',          'DEFAULT', 'AMZN', 0.0400),
      ('SPY',          'DEFAULT', 'JPM',  0.0130),
      ('SPY',          'TEST',    'TSTC', NULL),
      ('semis',        'DEFAULT', 'AMD',  NULL)
  ) AS m (name, env, symbol, weight) ON g.name = m.name AND g.environment = m.env;
