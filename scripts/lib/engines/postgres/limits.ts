/**
 * Bounds PostgreSQL sets on what the kit passes it. A flag checked against them is refused with
 * the limit named, instead of passing validation and failing inside the server or pg_dump.
 */

/** lock_timeout and statement_timeout are int milliseconds: at most INT_MAX (about 24.8 days). */
export const PG_TIMEOUT_MAX_MS = 2_147_483_647;
