-- Raised inside a statement to abort it: an optimistic write found the row it
-- depends on changed since it was read (SQLSTATE 40001, which the stores treat
-- as contention and retry).
CREATE FUNCTION emporium_stale() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = 'changed since it was read';
END
$$;
