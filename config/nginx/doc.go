// Package nginx renders the one nginx configuration that routes every user's
// hosts to their programs: a pure function from the admin's policy and the
// users' [proxy:NAME] sections to bytes.
//
// Nothing a user writes can change the structure of the output. Every value
// that comes from a user is validated against a narrow grammar (RFC 1123
// hosts, URL paths of unreserved characters, file paths without quotes, "$",
// ";", braces, "#", spaces or control characters) and then quoted, and the
// writer refuses to quote anything outside that grammar, so quoting is a
// second line of defence rather than the only one. A value that fails is left
// out with a Warning naming the user, the section and the fix; one user's
// mistake never fails the render or touches another user's routes. Render
// returns an error only for an invalid policy or an inconsistent user list,
// which are the admin's and the master's input.
//
// The output is deterministic: users, routes, hosts and static locations are
// sorted, so the same input gives the same bytes and the master can skip the
// reload when nothing changed.
//
// # Output
//
// The rendered file belongs in nginx's http context (conf.d). It contains:
//   - a map for the WebSocket Connection header, when a route needs it, named
//     $roost_connection_upgrade so it cannot clash with the admin's own;
//   - a default server answering 421 to any Host no route claims, so an
//     unknown name never reaches some user's program;
//   - per accepted route, a marker comment (read back by Blame and Served),
//     an upstream roost_USER_NAME listing every process with max_fails=0
//     (a process that refused a connection is tried again on the next
//     request, so a rolling restart never leaves nginx without a live
//     server), and a server block for its hosts
//     with the proxy headers, proxy_next_upstream (so nginx retries on a live
//     process of a numprocs program), an exact location for the health path
//     without access log, and the static locations.
//
// Static locations use alias with a trailing slash on both sides (without it
// "/static../x" would reach the directory's parent) and "disable_symlinks
// if_not_owner" without from=: a symlink is followed only when it and its
// target have the same owner, checked at every path component. from= would
// exempt the project path itself (~/current, usually a symlink the user
// owns), which would let a user point it at another user's files.
// Same-owner symlinks are followed: a user can publish only their own files.
//
// Note for whoever applies the file: nginx -t binds the listen addresses
// (EADDRINUSE is tolerated in test mode, EACCES is not), so it needs the
// same privileges as nginx itself.
//
// # Host ownership
//
// Every host a route claims must be allowed to its user by a pattern, and a
// user's right to a name has a strength:
//
//  1. granted: the admin listed it (or a wildcard covering it) in
//     [user.NAME] hosts;
//  2. own: a policy pattern containing {user} produces it for this user;
//  3. shared: a policy pattern without {user} allows it to every user.
//
// A claim is refused when another user has a stronger right to any name the
// claim could match: nobody can squat a name in another user's namespace,
// even one that user does not use yet, and a new user's {user} names, or a
// new grant, take precedence over squatters as soon as they exist.
//
// Two claims of the same name at the same strength (two users through a
// shared pattern, or two sections of one user) are both refused: a contested
// host goes to neither, every claimant is told who else claims it, and the
// admin settles it with a grant. The rule depends on nothing but the input,
// never on which claim came first, so the same input always renders the same
// bytes.
//
// Overlaps that are not equal names are left to nginx's own precedence (an
// exact name beats a wildcard, a longer wildcard beats a shorter one):
// alice's *.alice.example.test and her own api.alice.example.test can point
// at different programs. A wildcard claim that would match a name another
// user has a stronger right to is refused as a whole: claim names one by one.
//
// # What is left out
//
// A refused host, static location, health path or upstream is left out of
// its route with a Warning; a route with no host or no upstream left is left
// out entirely. Users whose names roost cannot write (see User) lose their
// routes. Users must include every managed user, with or without routes: a
// user's own names are reserved for them either way.
package nginx
