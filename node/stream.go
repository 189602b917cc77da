package node

// Stream protocols. The version is part of the ID so a node can speak two
// versions during an upgrade. Each has its own resource-manager service
// name, so the resource manager and its metrics tell the protocols apart.
const (
	ProtoDeliver = "/vigil/deliver/1.0.0"

	serviceDeliver = "vigil.deliver"
)
