package adminapi

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// GroupQuery filters groups/search. Empty fields do not filter. GroupNames
// cannot be combined with SearchTerm or GroupIDs (the API answers 400).
type GroupQuery struct {
	GroupIDs    []string
	GroupNames  []string // exact, case-insensitive
	SearchTerm  string
	AccountIDs  []string // groups with any of these members
	ResourceIDs []string // groups with a role on any of these product ARIs
	RoleIDs     []string
	// Counts asks for the member and resource counts (expand
	// counts.users and counts.resources).
	Counts bool
	Limit  int    // page size; default and cap MaxPageSize
	Cursor string // resumes a listing from PageError.Cursor
}

// Group is a MultiDirectoryGroup.
type Group struct {
	ID          string
	Name        string
	Description string
	DirectoryID string
	// Synced groups are managed by an identity provider: Atlassian refuses
	// membership changes, so removals go to an IdP hand-off list.
	Synced     bool
	ManagedBy  string // external, admins, team-members or open
	Modifiable bool
	Deletable  bool
	// Counts is nil unless asked for (GroupQuery.Counts, or Group).
	Counts *GroupCounts
}

// GroupCounts are the group's member and resource counts.
type GroupCounts struct {
	Users     int
	Resources int
}

type groupSearchBody struct {
	Cursor      string   `json:"cursor,omitempty"`
	Limit       int      `json:"limit,omitempty"`
	AccountIDs  []string `json:"accountIds,omitempty"`
	RoleIDs     []string `json:"roleIds,omitempty"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
	SearchTerm  string   `json:"searchTerm,omitempty"`
	GroupIDs    []string `json:"groupIds,omitempty"`
	GroupNames  []string `json:"groupNames,omitempty"`
	Expand      []string `json:"expand,omitempty"`
}

type wireGroup struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	DirectoryID      string `json:"directoryId"`
	ExternalSynced   bool   `json:"externalSynced"`
	ManagedBy        string `json:"managedBy"`
	ManagementAccess *struct {
		Modifiable bool `json:"modifiable"`
		Deletable  bool `json:"deletable"`
	} `json:"managementAccess"`
	Counts *struct {
		Users     int `json:"users"`
		Resources int `json:"resources"`
	} `json:"counts"`
}

// group converts; a group is synced when the API says it came from IdP
// sync (externalSynced) or is managed externally (managedBy "external").
func (w *wireGroup) group() Group {
	g := Group{ID: w.ID, Name: w.Name, Description: w.Description, DirectoryID: w.DirectoryID,
		Synced: w.ExternalSynced || w.ManagedBy == "external", ManagedBy: w.ManagedBy}
	if w.ManagementAccess != nil {
		g.Modifiable, g.Deletable = w.ManagementAccess.Modifiable, w.ManagementAccess.Deletable
	}
	if w.Counts != nil {
		g.Counts = &GroupCounts{Users: w.Counts.Users, Resources: w.Counts.Resources}
	}
	return g
}

// Groups lists every group of the directory.
func (c *Client) Groups(ctx context.Context) iter.Seq2[Group, error] {
	return c.SearchGroups(ctx, GroupQuery{})
}

// SearchGroups lists the groups matching q, page by page.
func (c *Client) SearchGroups(ctx context.Context, q GroupQuery) iter.Seq2[Group, error] {
	body := groupSearchBody{Limit: pageSize(q.Limit), AccountIDs: q.AccountIDs, RoleIDs: q.RoleIDs,
		ResourceIDs: q.ResourceIDs, SearchTerm: q.SearchTerm, GroupIDs: q.GroupIDs, GroupNames: q.GroupNames}
	if q.Counts {
		body.Expand = []string{"counts.users", "counts.resources"}
	}
	return paginate(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]Group, string, error) {
		body.Cursor = cursor
		var page struct {
			Data  []wireGroup `json:"data"`
			Links links       `json:"links"`
		}
		err := c.do(ctx, request{method: http.MethodPost, path: c.dirPath + "/groups/search",
			endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search", body: body, readOnly: true}, &page)
		if err != nil {
			return nil, "", err
		}
		groups := make([]Group, 0, len(page.Data))
		for i := range page.Data {
			groups = append(groups, page.Data[i].group())
		}
		return groups, page.Links.nextCursor(), nil
	})
}

// Group reads one group with its counts.
func (c *Client) Group(ctx context.Context, groupID string) (Group, error) {
	var out struct {
		Data wireGroup `json:"data"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: c.groupPath(groupID),
		endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}"}, &out)
	if err != nil {
		return Group{}, classify(err)
	}
	return out.Data.group(), nil
}

func (c *Client) groupPath(groupID string) string {
	return c.dirPath + "/groups/" + url.PathEscape(groupID)
}

// RoleAssignment is what a group grants on one resource
// (MultiDirectoryGroupRoleAssignment).
type RoleAssignment struct {
	ResourceID    string   // product ARI
	ResourceOwner string   // product key
	Roles         []string // e.g. atlassian/user, atlassian/admin
	// DefaultRole is "which role is granted by default for the resource":
	// set where the group gives new users of the product access (a default
	// group), "" otherwise. This reading is unverified.
	DefaultRole string
}

// GroupRoleAssignments lists which roles on which resources a group grants:
// with users/search expand groups, the billable path of every user
// (DOMAIN.md §7.3).
func (c *Client) GroupRoleAssignments(ctx context.Context, groupID string) iter.Seq2[RoleAssignment, error] {
	return paginate(ctx, "", func(ctx context.Context, cursor string) ([]RoleAssignment, string, error) {
		// As published, a cursor replaces every other parameter.
		q := url.Values{"limit": {strconv.Itoa(MaxPageSize)}}
		if cursor != "" {
			q = url.Values{"cursor": {cursor}}
		}
		var page struct {
			Data []struct {
				ResourceID    string   `json:"resourceId"`
				ResourceOwner string   `json:"resourceOwner"`
				DefaultRole   *string  `json:"defaultRole"`
				Roles         []string `json:"roles"`
			} `json:"data"`
			Links links `json:"links"`
		}
		err := c.do(ctx, request{method: http.MethodGet, path: c.groupPath(groupID) + "/role-assignments", query: q,
			endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments"}, &page)
		if err != nil {
			return nil, "", fmt.Errorf("role assignments of group %s: %w", groupID, classify(err))
		}
		out := make([]RoleAssignment, 0, len(page.Data))
		for _, d := range page.Data {
			ra := RoleAssignment{ResourceID: d.ResourceID, ResourceOwner: d.ResourceOwner, Roles: d.Roles}
			if d.DefaultRole != nil {
				ra.DefaultRole = *d.DefaultRole
			}
			out = append(out, ra)
		}
		return out, page.Links.nextCursor(), nil
	})
}
