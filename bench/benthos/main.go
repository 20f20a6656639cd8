// Command benthos is the peer the benchmark measures the pipeline against
// (docs/performance.md, "The peer"): Benthos v4.27 with only the components
// that run MQTT → ClickHouse, the `mqtt` input, `sql_insert` with the
// clickhouse driver, and the pure processors. It is its own module and is
// built outside the repository (`make bench-peer-build`, into
// .local/benthos/): the all-components import pulls a module the Go proxy
// refuses, and the project does not depend on Benthos.
package main

import (
	"context"

	"github.com/benthosdev/benthos/v4/public/service"

	_ "github.com/ClickHouse/clickhouse-go/v2"
	_ "github.com/benthosdev/benthos/v4/public/components/mqtt"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
	_ "github.com/benthosdev/benthos/v4/public/components/sql/base"
)

func main() {
	service.RunCLI(context.Background())
}
