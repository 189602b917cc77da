// Package api is a node's HTTP JSON API: the routes the operator console,
// the CLI and the test networks use, the authentication in front of them
// (console sessions, personal API tokens, the node's bootstrap token),
// user and token management, the console's own routes, and the fault
// injection routes of test networks. Its answers are its own types
// (node/api/types, rendered from stored records in render.go): no stored
// record is ever serialised as it is stored, so a storage change is never
// an API change.
//
// The API is built from small interfaces (Cases, Network, Auditor, Alerts,
// Drills, Events, Quarantines, Faults, Store) that the node's parts
// satisfy; it never sees the node. Server.Handle mounts further routes
// with the same authentication, authorisation and CSRF checks.
//
// It is one package of about 2,900 lines on purpose: one route table, one
// authentication and CSRF middleware, one HTTP server with its timeouts and
// connection caps (httpserver.go) and one error format serve every route,
// and splitting the handlers across packages would export that middleware
// to each. Its response types (node/api/types) and its client
// (node/api/client) are packages of their own.
//
// # No audit write is ever dropped
//
// Every audit record the API writes either is written or makes the
// request fail; none is discarded. Which way a request fails depends on
// whether its effect can be held back:
//
//   - Effect and record in one store transaction (assigning a case): all
//     or nothing. The request fails with 503 and nothing happened.
//   - Reads that must be recorded (viewing a case, verifying or exporting
//     the log, taking a backup): the answer is withheld. 503, and the caller learns nothing
//     it could not be seen to have learnt.
//   - A roster, once verified and installed, is in force (and gossiped);
//     if its roster.applied record then fails, the answer is 500 saying
//     the roster applied and its record is missing.
//   - Account changes, which node/accounts commits in its own transaction
//     before the record can be written: 503 with what stands. What grants
//     access is withdrawn again before the answer, so nothing unaudited can
//     be used: a login's session is deleted and its cookie never sent, a
//     new token is revoked and its secret never shown, a new user is
//     deleted (unless accounts refuses, as it does for the only admin: then
//     the 503 says the user stands). What takes access away (logout, revoking a token, deleting
//     or disabling a user) stands: undoing it would hand back access nobody
//     asked for. Other changes to an existing account (role, password,
//     content access, unlock, second factor) stand and the 503 says they
//     were made but not recorded, so an admin can repeat them once the log
//     is writable. Either way the failure is logged at error level.
//   - The record of repeated failed logins, written from node/accounts'
//     callback with no request to fail: the failure is logged at error
//     level and the alert is announced (console events and alert hooks,
//     which do not need the store) as critical, saying it was not recorded.
//
// Records written after the effect use a context that outlives the
// client's connection, so hanging up cannot leave an action unaudited.
package api
