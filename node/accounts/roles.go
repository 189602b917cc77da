package accounts

import (
	"fmt"
	"slices"
)

// Role is what a user is for. Every user has exactly one.
type Role string

const (
	// RoleOperator handles cases: reads and answers them, submits requests.
	RoleOperator Role = "operator"
	// RoleSupervisor is an operator who also reassigns cases and oversees
	// the desk (escalations, statistics).
	RoleSupervisor Role = "supervisor"
	// RoleAuditor reads case metadata, the audit log and statistics; request
	// contents only if the user has ContentAccess.
	RoleAuditor Role = "auditor"
	// RoleAdmin manages users, tokens and settings, and may do everything.
	RoleAdmin Role = "admin"
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleOperator, RoleSupervisor, RoleAuditor, RoleAdmin} }

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := rolePerms[r]; !ok {
		return "", fmt.Errorf("%w: %q (want operator, supervisor, auditor or admin)", ErrBadRole, s)
	}
	return r, nil
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := rolePerms[r]; return ok }

// Permission is one thing a user may do.
type Permission string

const (
	PermReadCases    Permission = "read_cases"    // case lists and metadata
	PermReadContents Permission = "read_contents" // decrypted request contents
	PermSubmit       Permission = "submit"        // submit new requests
	PermAct          Permission = "act"           // act on cases (acknowledge, answer, close)
	PermAssign       Permission = "assign"        // reassign cases between users
	PermReadAudit    Permission = "read_audit"    // audit log, verification, export
	PermReadStats    Permission = "read_stats"    // statistics
	PermManageUsers  Permission = "manage_users"  // users, their tokens and settings
	PermManageRoster Permission = "manage_roster" // install a new roster
	PermReadPeers    Permission = "read_peers"    // peers and the roster
	PermReadAlerts   Permission = "read_alerts"   // alerts (deadlines, expiries)
)

// Permissions lists every permission.
func Permissions() []Permission {
	return []Permission{PermReadCases, PermReadContents, PermSubmit, PermAct, PermAssign,
		PermReadAudit, PermReadStats, PermManageUsers, PermManageRoster, PermReadPeers, PermReadAlerts}
}

// rolePerms is the permission table. An auditor's PermReadContents is
// further conditioned on ContentAccess in Can; admin is granted everything
// in Can.
var rolePerms = map[Role][]Permission{
	RoleOperator: {
		PermReadCases, PermReadContents, PermSubmit, PermAct, PermReadPeers, PermReadAlerts,
	},
	RoleSupervisor: {
		PermReadCases, PermReadContents, PermSubmit, PermAct, PermReadPeers, PermReadAlerts,
		PermAssign, PermReadStats,
	},
	RoleAuditor: {
		PermReadCases, PermReadAudit, PermReadStats, PermReadPeers, PermReadAlerts,
		PermReadContents, // only with ContentAccess
	},
	RoleAdmin: nil, // everything
}

// Can reports whether u may do p. A nil or disabled user may do nothing.
func Can(u *User, p Permission) bool {
	if u == nil || u.Disabled {
		return false
	}
	r := Role(u.Role)
	perms, ok := rolePerms[r]
	if !ok {
		return false
	}
	if r == RoleAdmin {
		return slices.Contains(Permissions(), p)
	}
	if r == RoleAuditor && p == PermReadContents && !u.ContentAccess {
		return false
	}
	return slices.Contains(perms, p)
}
