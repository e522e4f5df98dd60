-- The database the `sqlite` sink writes: schema version 2 (PRAGMA user_version),
-- marked as textmill's with PRAGMA application_id = 0x546D696C ('Tmil').
-- Embedded into the plugin at build time; docs/sqlite.md shows it and explains it.

-- One row per document id. `doc` is a stable integer key (the FTS rowid);
-- an updated document keeps it.
CREATE TABLE IF NOT EXISTS documents (
    doc     INTEGER PRIMARY KEY,
    id      TEXT NOT NULL UNIQUE,
    title   TEXT,
    author  TEXT,
    date    TEXT,            -- as the metadata gives it: ISO 8601 sorts as text
    url     TEXT,
    source  TEXT,
    lang    TEXT,
    file    TEXT,
    parent  TEXT,            -- the page a split document came from
    text    TEXT NOT NULL,
    meta    TEXT NOT NULL,   -- every metadata key, as one compact JSON object
    digest  TEXT NOT NULL,   -- hash of all that is stored for the document
    added   TEXT NOT NULL,   -- UTC time of the run that first stored it
    updated TEXT NOT NULL    -- UTC time of the run that last changed it
);
CREATE INDEX IF NOT EXISTS documents_date ON documents (date);

-- One row per canonical entity and type.
CREATE TABLE IF NOT EXISTS entities (
    entity    INTEGER PRIMARY KEY,
    canonical TEXT NOT NULL,
    type      TEXT NOT NULL,   -- PER, ORG, LOC, MISC (the `types` option)
    id        TEXT,            -- external identifier, the first one seen
    UNIQUE (canonical, type)
);
CREATE INDEX IF NOT EXISTS entities_canonical_nocase ON entities (canonical COLLATE NOCASE);

-- One row per mention: [start, end) are UTF-8 byte offsets into documents.text.
-- Mentions are many, so they refer to their document by its integer key.
CREATE TABLE IF NOT EXISTS mentions (
    doc    INTEGER NOT NULL REFERENCES documents (doc) ON DELETE CASCADE,
    entity INTEGER NOT NULL REFERENCES entities (entity),
    start  INTEGER NOT NULL,
    end    INTEGER NOT NULL,
    text   TEXT NOT NULL,      -- the covered text, as printed
    score  REAL,               -- NULL when unknown
    stage  TEXT
);
CREATE INDEX IF NOT EXISTS mentions_doc ON mentions (doc);
CREATE INDEX IF NOT EXISTS mentions_entity ON mentions (entity, doc);

-- Documents the dedupe stage marked as copies (mode: mark).
CREATE TABLE IF NOT EXISTS duplicates (
    doc_id       TEXT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    duplicate_of TEXT NOT NULL,
    kind         TEXT,         -- exact or near
    similarity   REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS duplicates_of ON duplicates (duplicate_of);

-- The story each document belongs to (the `stories` stage's `story`).
CREATE TABLE IF NOT EXISTS story_documents (
    doc_id   TEXT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    story_id TEXT NOT NULL,
    score    REAL,             -- story_score; NULL for the document that opened the story
    evidence TEXT              -- story_evidence as JSON, or NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_documents_story ON story_documents (story_id);

-- One row per story, over every run that added to it: recomputed from
-- story_documents and documents for each story a run touches.
CREATE TABLE IF NOT EXISTS stories (
    story_id   TEXT PRIMARY KEY,  -- the id of the story's first document
    label      TEXT NOT NULL,     -- story_label of the run's latest document, else a title or the id
    terms      TEXT NOT NULL,     -- story_terms: a JSON array, most weighty first
    first_date TEXT,              -- YYYY-MM-DD of its earliest and latest dated documents
    last_date  TEXT,
    documents  INTEGER NOT NULL,
    outlets    INTEGER NOT NULL,  -- distinct sources (else URL hosts) among its documents
    sources    TEXT NOT NULL,     -- those outlets as a JSON array, most documents first
    updated    TEXT NOT NULL      -- UTC time of the run that last changed the row
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stories_last_date ON stories (last_date);

-- Full-text index over title and text, reading its content from documents
-- (external content: the text is stored once) and kept in step by triggers.
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5 (
    title, text, content = 'documents', content_rowid = 'doc',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS documents_fts_insert AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts (rowid, title, text) VALUES (new.doc, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS documents_fts_delete AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, text)
        VALUES ('delete', old.doc, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS documents_fts_update AFTER UPDATE OF title, text ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, text)
        VALUES ('delete', old.doc, old.title, old.text);
    INSERT INTO documents_fts (rowid, title, text) VALUES (new.doc, new.title, new.text);
END;

-- How often each entity is mentioned, and in how many documents.
CREATE VIEW IF NOT EXISTS entity_counts AS
    SELECT e.entity, e.canonical, e.type, e.id,
           count(*) AS mentions, count(DISTINCT m.doc) AS documents
    FROM entities e JOIN mentions m ON m.entity = e.entity
    GROUP BY e.entity;
