//go:build !race

package testnode

const raceEnabled = false

// RaceBuild reports that the parley binary under test is built with -race, which
// multiplies its memory use: tests that bound RSS scale their bounds by it.
const RaceBuild = raceEnabled
