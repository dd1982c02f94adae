-- Ends the statement that calls it with an error when `reason` is not empty:
-- a checkout placed in one statement (no BEGIN/COMMIT round trips) rolls
-- back all its writes this way when a line is short of stock. NULL and ''
-- pass. The message is `emporium_abort: <reason>`, SQLSTATE P0001.
-- VOLATILE (the default, said here so nobody changes it): a stable
-- function's call with constant arguments may be evaluated once before the
-- rows it guards are read, and would then raise for a repeated key too.
CREATE FUNCTION emporium_abort_if(reason text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF reason IS NOT NULL AND reason <> '' THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'emporium_abort: ' || reason;
    END IF;
    RETURN true;
END
$$;
