package measure

import "context"

// Sampler gives the VM's current cumulative energy as a Sample; each call
// reads the share, and the energy never goes backwards between calls. The
// guest agent's ShareSampler implements it; track and status take one.
type Sampler interface {
	Sample(ctx context.Context) (Sample, error)
}

// SamplerFunc adapts a function to a Sampler.
type SamplerFunc func(ctx context.Context) (Sample, error)

// Sample calls f.
func (f SamplerFunc) Sample(ctx context.Context) (Sample, error) { return f(ctx) }
