// Package tufview shows any TUF repository to people: it parses metadata
// files, rebuilds the delegation tree, checks each role's signatures against
// the keys and threshold its delegating role names, and renders readable HTML
// pages, one per role, plus an index with the tree.
//
// # What "verified" means here
//
// The viewer trusts nothing it reads. A role is shown as verified when a
// threshold of the keys its delegating role names signed it, where the
// delegating role is the one loaded from the same source. Root is checked
// against its own keys. That makes the pages an honest picture of a
// repository's internal consistency, not a substitute for a TUF client that
// starts from a pinned root: a repository forged wholesale, new root
// included, looks consistent here. Compare the root keys with ones you
// trust before believing anything else on the pages.
//
// # Using it
//
// [Load] reads the latest metadata files from a [Source] ([Dir] or [URL]),
// [Build] links them into a [Repo], and [WriteSite] writes static pages. A
// server that shows one role at a time (Hallmark's web UI) calls [Verify] and
// [NewRoleView] itself and renders with [Templates].
package tufview
