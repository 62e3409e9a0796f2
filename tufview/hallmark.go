package tufview

import (
	"time"

	"hallmark.dev/hallmark/layout"
)

// HallmarkDescribe says in a few words what a role of a Hallmark shard is,
// by the naming rules of package layout ("" for other names).
func HallmarkDescribe(role string) string {
	kind, name := layout.ParseRole(role)
	switch kind {
	case layout.KindTopLevel:
		return map[string]string{
			layout.RoleRoot:      "The shard's root of trust, signed with the admins' offline root keys: it names the keys of the other top-level roles.",
			layout.RoleTimestamp: "Signed by the server's online timestamp key of this shard and renewed every few hours: it names the current snapshot.",
			layout.RoleSnapshot:  "Signed by the server's online snapshot key of this shard: it lists the current version of every targets role.",
			layout.RoleTargets:   "Signed with the admins' offline targets keys: it delegates every project, first to the claimed bin, then to the new bin.",
		}[role]
	case layout.KindClaimed:
		return "The bin of claimed projects of shard " + name + ", signed with the admins' offline claim keys. Its delegations to projects are terminating: nothing the online keys sign can override them."
	case layout.KindNew:
		return "The bin of projects of shard " + name + " that are not claimed yet, signed by the server's online key: such projects are only as safe as that key."
	case layout.KindOwners:
		return "The owners role of project " + name + ", signed by its owners: it names the maintainers who sign releases."
	case layout.KindReleases:
		return "The releases role of project " + name + ", signed by its maintainers: it lists the project index and every release file."
	}
	return ""
}

// HallmarkWarn is how long before its expiry a Hallmark role is shown as
// expiring soon: a quarter of its validity, and never before the policy's
// signing period starts. Online roles renewed on time never reach it.
func HallmarkWarn(p layout.Policy) func(role string) time.Duration {
	return func(role string) time.Duration {
		e := p.For(role)
		return min(e.Signing, e.Valid/4)
	}
}
