package node

import "github.com/vigil-network/vigil/node/config"

// Forwarders to node/config, so callers of the old names compile until the
// coordinator switches them to config.X.
type (
	Config          = config.Config
	APIConfig       = config.APIConfig
	RosterConfig    = config.RosterConfig
	StoreConfig     = config.StoreConfig
	DeliveryConfig  = config.DeliveryConfig
	NetworkConfig   = config.NetworkConfig
	ClockConfig     = config.ClockConfig
	DeadlineConfig  = config.DeadlineConfig
	AlertConfig     = config.AlertConfig
	RetentionConfig = config.RetentionConfig
	DrillConfig     = config.DrillConfig
	AdmissionConfig = config.AdmissionConfig
	RateConfig      = config.RateConfig
	LogConfig       = config.LogConfig
	TestingConfig   = config.TestingConfig
	InitOptions     = config.InitOptions
	InitResult      = config.InitResult
)

var (
	DefaultConfig       = config.DefaultConfig
	DefaultAdmission    = config.DefaultAdmission
	LoadConfig          = config.LoadConfig
	Init                = config.Init
	WriteFileAtomic     = config.WriteFileAtomic
	EnsureIdentityKey   = config.EnsureIdentityKey
	LoadIdentityKey     = config.LoadIdentityKey
	EnsureEncryptionKey = config.EnsureEncryptionKey
	LoadEncryptionKey   = config.LoadEncryptionKey
	EnsureToken         = config.EnsureToken
	readSecret          = config.ReadSecret
)
