/**
 * The operator verbs of `weft waypoint` (waypoint-admin.ts); any other first argument runs the
 * waypoint proxy. Its own module so that the entry point can tell the two apart without loading
 * the operator tools' modules into the proxy process.
 */
export const WAYPOINT_ADMIN_VERBS: readonly string[] = ["apply", "list", "delete", "status"];
