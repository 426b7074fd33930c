-- The current-state columns are copies of fields of the signed record, kept for searching.
-- They may only hold what the record says, so that no column can be changed behind it.

DROP TRIGGER certificates_insert_needs_event;
DROP TRIGGER certificates_update_needs_event;

CREATE TRIGGER certificates_insert_needs_event BEFORE INSERT ON certificates
WHEN NOT EXISTS (
    SELECT 1 FROM events
    WHERE number = NEW.number AND version = NEW.version AND record = NEW.record
)
OR NEW.version IS NOT json_extract(NEW.record, '$.version')
OR NEW.holder_name IS NOT json_extract(NEW.record, '$.holder.name')
OR NEW.holder_name_en IS NOT json_extract(NEW.record, '$.holder.name_en')
OR NEW.uscc IS NOT json_extract(NEW.record, '$.holder.uscc')
OR NEW.level IS NOT json_extract(NEW.record, '$.level')
OR NEW.state IS NOT json_extract(NEW.record, '$.status.state')
OR NEW.valid_until IS NOT json_extract(NEW.record, '$.valid_until')
BEGIN
    SELECT RAISE(ABORT, 'certificate state without its event');
END;

CREATE TRIGGER certificates_update_needs_event BEFORE UPDATE ON certificates
WHEN NOT EXISTS (
    SELECT 1 FROM events
    WHERE number = NEW.number AND version = NEW.version AND record = NEW.record
)
OR NEW.version IS NOT json_extract(NEW.record, '$.version')
OR NEW.holder_name IS NOT json_extract(NEW.record, '$.holder.name')
OR NEW.holder_name_en IS NOT json_extract(NEW.record, '$.holder.name_en')
OR NEW.uscc IS NOT json_extract(NEW.record, '$.holder.uscc')
OR NEW.level IS NOT json_extract(NEW.record, '$.level')
OR NEW.state IS NOT json_extract(NEW.record, '$.status.state')
OR NEW.valid_until IS NOT json_extract(NEW.record, '$.valid_until')
BEGIN
    SELECT RAISE(ABORT, 'certificate state without its event');
END;
