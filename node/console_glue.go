package node

import (
	"net/http"

	"github.com/vigil-network/vigil/node/console"
)

// consoleHandler serves the operator console's pages.
func consoleHandler() http.Handler { return console.Handler() }
