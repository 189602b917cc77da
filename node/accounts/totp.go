package accounts

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// TOTP follows RFC 6238 with the parameters every authenticator app
// supports: HMAC-SHA1, 6 digits, 30-second steps. One step of clock skew
// either way is accepted.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkTOTP checks a code against the steps around now and returns the
// step it matched. Steps at or before last are refused, so a code that was
// accepted once cannot be replayed (RFC 6238 §5.2).
func checkTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if secret == "" || len(code) != 6 {
		return 0, false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	cur := now.Unix() / totpPeriod
	var matched int64
	found := false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched, found = step, true
		}
	}
	return matched, found
}

// BeginTOTP starts enrolling a user in TOTP: it stores a new secret, not
// yet required at login, and returns it with its otpauth:// URL (for a QR
// code). ConfirmTOTP enables it. A user who already has TOTP enabled must
// DisableTOTP first (ErrTOTPEnabled), so a hijacked session cannot quietly
// replace the second factor. The secret is shown to the user only.
func (m *Manager) BeginTOTP(ctx context.Context, user string) (secret, otpauthURL string, err error) {
	if CheckName(user) != nil {
		return "", "", ErrNotFound
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      m.o.TOTPIssuer,
		AccountName: user,
		Period:      totpPeriod,
		SecretSize:  20,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", err
	}
	stored, err := m.sealSecret(user, key.Secret())
	if err != nil {
		return "", "", fmt.Errorf("seal TOTP secret: %w", err)
	}
	err = m.modifyUser(ctx, user, func(_ *store.Tx, u *User) error {
		if u.TOTPEnabled {
			return ErrTOTPEnabled
		}
		u.TOTPSecret, u.TOTPLastStep = stored, 0
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// ConfirmTOTP enables TOTP for a user if code is valid for the secret
// BeginTOTP stored (ErrBadCode otherwise, ErrTOTPNotStarted without one).
// From then on Login requires a code.
func (m *Manager) ConfirmTOTP(ctx context.Context, user, code string) error {
	now := m.now()
	err := m.modifyUser(ctx, user, func(_ *store.Tx, u *User) error {
		if u.TOTPEnabled {
			return ErrTOTPEnabled
		}
		if u.TOTPSecret == "" {
			return ErrTOTPNotStarted
		}
		secret, clear, err := m.openSecret(user, u.TOTPSecret)
		if err != nil {
			return err
		}
		step, ok := checkTOTP(secret, code, now, u.TOTPLastStep)
		if !ok {
			return ErrBadCode
		}
		u.TOTPEnabled, u.TOTPLastStep = true, step
		if clear {
			if u.TOTPSecret, err = m.sealSecret(user, secret); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		m.log.Info("two-factor authentication enabled", zap.String("user", user))
	}
	return err
}

// DisableTOTP removes a user's TOTP secret; Login then needs only the
// password. Callers should require the user's password or an admin.
func (m *Manager) DisableTOTP(ctx context.Context, user string) error {
	err := m.modifyUser(ctx, user, func(_ *store.Tx, u *User) error {
		u.TOTPSecret, u.TOTPEnabled, u.TOTPLastStep = "", false, 0
		return nil
	})
	if err == nil {
		m.log.Info("two-factor authentication disabled", zap.String("user", user))
	}
	return err
}
