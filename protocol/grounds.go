package protocol

// Ground is a ground on which the requested state may refuse a request or
// withhold data, with the article that allows it.
type Ground struct {
	Key     string `json:"key"`
	Text    string `json:"text"`
	Article string `json:"article"`
}

var (
	gPolitical = Ground{"political_offence", "the offence is a political offence or connected with one", ""}
	gInterests = Ground{"essential_interests", "execution is likely to prejudice sovereignty, security, ordre public or other essential interests", ""}
	gDualCrim  = Ground{"dual_criminality", "dual criminality cannot be fulfilled at the time of disclosure (reservation in force; reasons to believe stated)", ""}
	// UN Art. 40(21)-(22), applied to preservation by Art. 42(5) and to
	// traffic data by Art. 43(2) (paragraph numbers to verify against the
	// authentic text, see docs/legal-model.md).
	gUNConformity = Ground{"not_in_conformity", "the request is not made in conformity with the Convention", "UN Art. 40(21)(a)"}
	gUNDomestic   = Ground{"domestic_prohibition", "domestic law prohibits the action for a similar offence", "UN Art. 40(21)(c)"}
	gUNLegalSys   = Ground{"contrary_to_legal_system", "granting the request would be contrary to the legal system of the requested State", "UN Art. 40(21)(d)"}
	gUNPersecute  = Ground{"persecution", "substantial grounds to believe the request aims at persecution on grounds of sex, race, language, religion, nationality, ethnic origin or political opinions", "UN Art. 40(22)"}
)

func cite(g Ground, article string) Ground { g.Article = article; return g }

// Grounds lists the grounds available to the requested side for action a
// (refuse, withhold_traffic) under the case's terms. An empty list means
// the action needs no ground. The lists are closed where the treaty says
// "may only be refused if" (Budapest Arts. 29(5), 30(2)); they depend on
// the treaty basis and on the reservations in force (issue 11, row 4).
func Grounds(t Terms, a ActionName) []Ground {
	if t.Treaty == "" {
		// No common treaty: nothing obliges the requested state to act.
		return []Ground{{"no_treaty_basis", "the two states share no treaty under which this request can be made", "(no treaty basis)"}}
	}
	switch {
	case a == ActRefuse && t.Kind == KindPreservation:
		if t.Treaty == TreatyUN {
			gs := []Ground{cite(gInterests, "UN Art. 40(21)(b)"), gUNConformity, gUNDomestic, gUNLegalSys, gUNPersecute}
			if t.DualCriminality {
				gs = append(gs, cite(gDualCrim, "UN Art. 42(4)"))
			}
			return gs
		}
		gs := []Ground{cite(gPolitical, "Budapest Art. 29(5)(a)"), cite(gInterests, "Budapest Art. 29(5)(b)")}
		if t.DualCriminality {
			gs = append(gs, cite(gDualCrim, "Budapest Art. 29(4)"))
		}
		return gs
	case a == ActWithholdTraffic:
		if t.Treaty == TreatyUN {
			return []Ground{cite(gInterests, "UN Art. 43(2), 40(21)(b)"), gUNConformity, gUNDomestic, gUNLegalSys, gUNPersecute}
		}
		return []Ground{cite(gPolitical, "Budapest Art. 30(2)(a)"), cite(gInterests, "Budapest Art. 30(2)(b)")}
	case a == ActRefuse && t.Kind == KindEmergency:
		// Protocol Art. 9 sets no closed list: the requested Party
		// determines (9(6)); these are the grounds the Protocol itself names.
		gs := []Ground{
			{"not_an_emergency", "the facts do not show a significant and imminent risk to the life or safety of a natural person", "Protocol Art. 3(2)(c)"},
			{"not_held_in_territory", "the data are not held by a service provider in the requested Party's territory", "Protocol Art. 9(1)(a)"},
			{"emergency_determination", "the requested Party determined not to provide the data, for the reasons stated", "Protocol Art. 9(6)"},
		}
		if t.SubscriberOnlyDeclared {
			gs = append(gs, Ground{"subscriber_only_declaration", "the request seeks only subscriber information, which the requested Party declared it will not execute", "Protocol Art. 9(1)(b)"})
		}
		return gs
	case a == ActRefuse && t.Kind == KindEmergencyMLA:
		// Protocol Art. 10(7): Art. 27(4) of the Convention where no MLA
		// treaty applies; the treaty's own grounds where one does (10(8)).
		return []Ground{cite(gPolitical, "Budapest Art. 27(4)(a), Protocol Art. 10(7)"), cite(gInterests, "Budapest Art. 27(4)(b), Protocol Art. 10(7)"),
			{"not_an_emergency", "the requested Party is not satisfied that an emergency exists", "Protocol Art. 10(4)"},
			{"mla_treaty_ground", "a ground of the mutual assistance treaty between the two Parties, stated in the reasons", "Protocol Art. 10(8)"}}
	case a == ActRefuse && t.Kind == KindAssistance:
		// Art. 35 assistance is not a request with treaty grounds: the point
		// of contact says why it cannot help.
		art := "Budapest Art. 35(1)"
		if t.Treaty == TreatyUN {
			art = "UN Art. 41"
		}
		return []Ground{{"not_competent", "outside the point of contact's competence; the competent authority is named in the reasons", art},
			cite(gInterests, art), {"other", "another reason, stated in full", art}}
	}
	return nil
}

// groundAllowed reports whether key is one of Grounds(t, a).
func groundAllowed(t Terms, a ActionName, key string) bool {
	for _, g := range Grounds(t, a) {
		if g.Key == key {
			return true
		}
	}
	return false
}

// GroundKeys lists the keys of Grounds(t, a), for error messages.
func GroundKeys(t Terms, a ActionName) []string {
	var out []string
	for _, g := range Grounds(t, a) {
		out = append(out, g.Key)
	}
	return out
}
