package testnet

// Countries are the 193 UN member states (ISO 3166-1 alpha-2), in the order
// testnet nodes take them: a few familiar ones first so small testnets read
// naturally, then the rest alphabetically.
var Countries = []string{
	"FR", "DE", "NL", "IT", "ES", "PL", "US", "JP", "BR", "ZA", "IN", "AU",
	"AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR", "AT", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI",
	"BJ", "BN", "BO", "BS", "BT", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CL", "CM", "CN", "CO",
	"CR", "CU", "CV", "CY", "CZ", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "ER", "ET", "FI", "FJ", "FM",
	"GA", "GB", "GD", "GE", "GH", "GM", "GN", "GQ", "GR", "GT", "GW", "GY", "HN", "HR", "HT", "HU", "ID", "IE",
	"IL", "IQ", "IR", "IS", "JM", "JO", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KZ", "LA", "LB",
	"LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MG", "MH", "MK", "ML", "MM",
	"MN", "MR", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NE", "NG", "NI", "NO", "NP", "NR", "NZ", "OM",
	"PA", "PE", "PG", "PH", "PK", "PT", "PW", "PY", "QA", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE",
	"SG", "SI", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SY", "SZ", "TD", "TG", "TH", "TJ", "TL",
	"TM", "TN", "TO", "TR", "TT", "TV", "TZ", "UA", "UG", "UY", "UZ", "VC", "VE", "VN", "VU", "WS", "YE", "ZM",
	"ZW",
}

// timeZones gives the familiar countries a real zone; the rest use UTC.
var timeZones = map[string]string{
	"FR": "Europe/Paris", "DE": "Europe/Berlin", "NL": "Europe/Amsterdam", "IT": "Europe/Rome",
	"ES": "Europe/Madrid", "PL": "Europe/Warsaw", "US": "America/New_York", "JP": "Asia/Tokyo",
	"BR": "America/Sao_Paulo", "ZA": "Africa/Johannesburg", "IN": "Asia/Kolkata", "AU": "Australia/Sydney",
}
