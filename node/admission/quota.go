package admission

import (
	"fmt"
	"strconv"
	"time"
)

// QuotaTx is the part of a store write transaction the quotas need. The
// counters are read and written in the transaction that stores the
// message, so they survive restarts and never drift from what is stored;
// each check costs a few small reads, never a scan.
type QuotaTx interface {
	Counter(name string) (int64, error)
	SetCounter(name string, v int64)
	AddCounter(name string, delta int64) (int64, error)
	// HasCase reports whether a case exists (a message to an existing case
	// opens nothing).
	HasCase(id string) (bool, error)
	// OpenCases is how many non-terminal cases country's node opened; the
	// store keeps it as cases change state.
	OpenCases(country string) (int64, error)
}

// Incoming describes an opened envelope about to be stored.
type Incoming struct {
	Country     string
	CaseID      string
	Type        string
	Payload     int // decrypted payload bytes
	EnvelopeLen int // stored envelope bytes
	Now         time.Time
}

func dayName(cc string) string              { return "admission/day/" + cc }
func bytesName(cc string) string            { return "admission/bytes/" + cc }
func caseMsgsName(cc, caseID string) string { return "admission/case/" + cc + "/" + caseID }

// ChargeStore checks an opened envelope against the member's quotas and,
// if it fits, counts it in tx. It returns a *Refusal (recorded) when a
// quota is full, or a store error.
func (c *Controller) ChargeStore(tx QuotaTx, in Incoming) error {
	if max, ok := c.lim.MaxPayload[in.Type]; !ok {
		return c.Refuse(in.Country, &Refusal{Code: CodeUnknownType, Limit: LimitUnknownType, Permanent: true,
			Reason: fmt.Sprintf("message type %q is not accepted", in.Type)})
	} else if in.Payload > max {
		return c.Refuse(in.Country, &Refusal{Code: CodeTooLarge, Limit: LimitTooLarge, Permanent: true,
			Reason: fmt.Sprintf("%s payload of %d bytes exceeds the %d-byte cap", in.Type, in.Payload, max)})
	}
	exists, err := tx.HasCase(in.CaseID)
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	if !exists && c.lim.OpenCases > 0 {
		open, err := tx.OpenCases(in.Country)
		if err != nil {
			return fmt.Errorf("admission: %w", err)
		}
		if open >= c.lim.OpenCases {
			return c.Refuse(in.Country, &Refusal{Code: CodeQuota, Limit: QuotaOpenCases,
				Reason: fmt.Sprintf("%s: %d open cases from this sender (limit %d); retry when some are closed", QuotaOpenCases, open, c.lim.OpenCases)})
		}
	}
	caseMsgs, err := tx.Counter(caseMsgsName(in.Country, in.CaseID))
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	if c.lim.MessagesPerCase > 0 && caseMsgs >= c.lim.MessagesPerCase {
		return c.Refuse(in.Country, &Refusal{Code: CodeQuota, Limit: QuotaMessagesPerCase,
			Reason: fmt.Sprintf("%s: %d messages from this sender in case %s (limit %d)", QuotaMessagesPerCase, caseMsgs, in.CaseID, c.lim.MessagesPerCase)})
	}
	// Bytes per UTC day: one counter per member, reset when the day turns.
	today, _ := strconv.ParseInt(in.Now.UTC().Format("20060102"), 10, 64)
	day, err := tx.Counter(dayName(in.Country))
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	used := int64(0)
	if day == today {
		if used, err = tx.Counter(bytesName(in.Country)); err != nil {
			return fmt.Errorf("admission: %w", err)
		}
	}
	if c.lim.BytesPerDay > 0 && used+int64(in.EnvelopeLen) > c.lim.BytesPerDay {
		return c.Refuse(in.Country, &Refusal{Code: CodeQuota, Limit: QuotaBytesPerDay,
			Reason: fmt.Sprintf("%s: %d bytes stored today (UTC) from this sender, limit %d; retry tomorrow", QuotaBytesPerDay, used, c.lim.BytesPerDay)})
	}
	if day != today {
		tx.SetCounter(dayName(in.Country), today)
	}
	tx.SetCounter(bytesName(in.Country), used+int64(in.EnvelopeLen))
	tx.SetCounter(caseMsgsName(in.Country, in.CaseID), caseMsgs+1)
	return nil
}
