// Package layout holds the rules every part of Hallmark shares: how project
// names are normalized, which shard a project lives in, what its TUF roles
// are called, where its files live, how versions are ordered and which one is
// "latest", and how long each role may be valid.
//
// The package does no I/O. The server, the maintainer and admin tools and the
// downloader all call it, so that no part re-derives a name, a path or a
// pattern by hand; a rule changed here changes everywhere at once.
package layout
