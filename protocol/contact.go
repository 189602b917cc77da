package protocol

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	// Zone names are checked against the IANA database built into the
	// binary when the host has none, so a node in a minimal container
	// accepts the same names as one with /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Contact is a person or office reachable about a request. Its fields are
// those of T-CY(2018)11 items 5-7; which of them a block must carry depends
// on the item it fills (see contactRules).
type Contact struct {
	Organisation string `json:"organisation,omitempty"`
	Person       string `json:"person"`
	JobTitle     string `json:"job_title,omitempty"` // item 6
	Function     string `json:"function,omitempty"`  // item 6: the role in the case
	Address      string `json:"address,omitempty"`
	Phone        string `json:"phone"`
	Mobile       string `json:"mobile,omitempty"`
	Email        string `json:"email"`
	Fax          string `json:"fax,omitempty"`
	OfficeHours  string `json:"office_hours,omitempty"`
	TimeZone     string `json:"time_zone,omitempty"` // IANA name, e.g. Europe/Paris
	// ReplyByExpeditedMeans is item 5's "response by e-mail or other
	// expedited means preferred" box.
	ReplyByExpeditedMeans bool `json:"reply_by_expedited_means,omitempty"`
	// PreferredChannel is item 5's "response preferred by means of".
	PreferredChannel string `json:"preferred_channel,omitempty"`
}

// InvestigatingAuthority is T-CY(2018)11 item 7, the investigative or
// operational authority in charge of the case, given only if it differs
// from the requesting authority. Requests written before item 7 was a full
// contact block carry it as a plain string, read as the organisation.
type InvestigatingAuthority Contact

// UnmarshalJSON accepts the contact block or, from older requests, a
// string naming the organisation. Unknown fields are refused as they are
// everywhere else in a request (a custom decoder does not inherit the
// outer DisallowUnknownFields).
func (a *InvestigatingAuthority) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return err
		}
		*a = InvestigatingAuthority{Organisation: s}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Contact
	if err := dec.Decode(&c); err != nil {
		return err
	}
	*a = InvestigatingAuthority(c)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for encoding/json/v2 (strictDecode):
// the contact block is decoded by the same decoder, with its options, so
// an unknown or mistyped field inside is named by its full path.
func (a *InvestigatingAuthority) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == '"' {
		var s string
		if err := jsonv2.UnmarshalDecode(dec, &s); err != nil {
			return err
		}
		*a = InvestigatingAuthority{Organisation: s}
		return nil
	}
	var c Contact
	if err := jsonv2.UnmarshalDecode(dec, &c); err != nil {
		return err
	}
	*a = InvestigatingAuthority(c)
	return nil
}

// contactRules say which fields of a contact block are required. Whatever
// is given is checked for form either way.
type contactRules struct {
	organisation, person, jobTitle, phone, email, officeHours, timeZone bool
}

var (
	// T-CY(2018)11 item 5 (Budapest Art. 29(2)(a)): the requesting
	// authority, whose office hours and zone frame every deadline.
	requestingRules = contactRules{organisation: true, person: true, phone: true, email: true, officeHours: true, timeZone: true}
	// T-CY(2018)11 item 6: the contact for additional confirmation.
	confirmationRules = contactRules{person: true, phone: true, email: true}
	// T-CY(2018)11 item 7: the investigating authority, if different. Older
	// requests name only its organisation, so that is all it must have.
	investigatingRules = contactRules{organisation: true}
	// The official who can confirm an emergency request is genuine
	// (Protocol Arts. 9(4) and 10(2): appropriate authentication): the
	// receiving point calls this person back, so a name, the post that
	// gives the authority, and a number and address are all needed.
	verificationRules = contactRules{person: true, jobTitle: true, phone: true, email: true}
	// The central authority of the requesting Party (Protocol Art. 10(9)).
	centralAuthorityRules = contactRules{organisation: true, phone: true, email: true}
)

func validateContact(f *fieldErrors, path string, c Contact, r contactRules) {
	req := func(on bool, field, v string) {
		if on {
			f.required(path+"."+field, v)
		}
	}
	req(r.organisation, "organisation", c.Organisation)
	req(r.person, "person", c.Person)
	req(r.jobTitle, "job_title", c.JobTitle)
	req(r.officeHours, "office_hours", c.OfficeHours)
	for _, n := range []struct {
		field, v string
		need     bool
	}{{"phone", c.Phone, r.phone}, {"mobile", c.Mobile, false}, {"fax", c.Fax, false}} {
		switch {
		case strings.TrimSpace(n.v) == "":
			req(n.need, n.field, n.v)
		case !ValidPhone(n.v):
			f.add(path+"."+n.field, "must be a telephone number: digits, an optional leading +, and spaces ( ) - . / only")
		}
	}
	switch {
	case strings.TrimSpace(c.Email) == "":
		if r.email {
			f.add(path+".email", "is required (an e-mail address such as name@example.org)")
		}
	case !ValidEmail(c.Email):
		f.add(path+".email", "must be one e-mail address such as name@example.org, without a display name")
	}
	switch {
	case c.TimeZone == "":
		if r.timeZone {
			f.add(path+".time_zone", "is required (an IANA name such as Europe/Paris)")
		}
	case !ValidTimeZone(c.TimeZone):
		f.add(path+".time_zone", "%q is not an IANA time zone name such as Europe/Paris or UTC", c.TimeZone)
	}
}

// validateInvestigating checks item 7, which may be absent.
func validateInvestigating(f *fieldErrors, a *InvestigatingAuthority) {
	if a == nil || *a == (InvestigatingAuthority{}) {
		return
	}
	validateContact(f, "investigating_authority", Contact(*a), investigatingRules)
}

// validateVerification checks the verification contact of an emergency
// request: it must be someone other than the requester, or calling it back
// proves nothing (forged emergency requests give the forger's own number).
func validateVerification(f *fieldErrors, v, requester Contact) {
	validateContact(f, "verification_contact", v, verificationRules)
	if p := normName(v.Person); p != "" && p == normName(requester.Person) {
		f.add("verification_contact.person", "must be another official than the requesting contact person: the supervisor or someone who can confirm the request is genuine")
	}
}

func normName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// ValidEmail reports whether s is one bare e-mail address (RFC 5322, as
// net/mail reads it) whose domain has at least two labels.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// ValidPhone reports whether s reads as a telephone or fax number: at
// least three digits (the shortest service numbers), an optional leading
// +, and the punctuation people write numbers with.
func ValidPhone(s string) bool {
	s = strings.TrimSpace(s)
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case strings.ContainsRune(" ()-./", r):
		default:
			return false
		}
	}
	return digits >= 3
}

// ValidTimeZone reports whether name is an IANA time zone name. Both sides
// of a case must accept the same names, so besides time.LoadLocation it
// refuses what only some hosts would load: "" and "Local" (the host's own
// zone), and names that are not of IANA form, such as "posix/Europe/Paris",
// "localtime" or, on a case-insensitive file system, "europe/paris" (every
// part of an IANA name starts with a capital letter). LoadZone does the
// checking and keeps what it loaded.
func ValidTimeZone(name string) bool {
	_, err := LoadZone(name)
	return err == nil
}

// ianaForm reports whether name has the form of an IANA zone name.
func ianaForm(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] < 'A' || part[0] > 'Z' {
			return false
		}
		for _, r := range part {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '+') {
				return false
			}
		}
	}
	return true
}

// validateTimeZoneGiven checks an optional zone field outside a contact.
func validateTimeZoneGiven(f *fieldErrors, path, name string) {
	if name != "" && !ValidTimeZone(name) {
		f.add(path, "%q is not an IANA time zone name such as Europe/Paris or UTC", name)
	}
}
