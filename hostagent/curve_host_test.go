package hostagent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// A power curve belongs to the machine it was measured on: a state file
// saved on the same machine (another boot included) keeps its calibrated
// curve; one copied from another machine brings none — the split is by
// time, no curve metric is shown and the next save holds no foreign curve.
func TestPowerCurveFromAnotherMachineIsDropped(t *testing.T) {
	tests := []struct {
		name, savedMachine, savedBoot string
		wantModel                     string
		wantCurve                     bool
	}{
		{"same machine, same boot", "machine-a", "", share.IdleModelCalibrated, true},
		{"same machine, another boot", "machine-a", "boot-before", share.IdleModelCalibrated, true},
		{"another machine", "machine-b", "", share.IdleModelTime, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setMachineID(t, "machine-a")
			w := newCurveWorld(t)
			cfg := testConfig(t)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cal := func(idleUW uint64) *powercurve.SavedCurve {
				return &powercurve.SavedCurve{Time: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC), IdleUW: idleUW, MarginalUWPerCPU: 1_000_000, Samples: 40}
			}
			st := state.New()
			st.PowerCurve = &powercurve.Saved{Zones: map[string]*powercurve.SavedZone{
				"package": {Calibrated: cal(40_000_000)}, "dram": {Calibrated: cal(5_000_000)}}}
			st.Baseline = &state.Baseline{MachineID: tc.savedMachine, BootID: tc.savedBoot}
			if err := st.Save(cfg.StateFile, w.Now()); err != nil {
				t.Fatal(err)
			}
			a := w.agent(t, cfg)
			ctx := context.Background()
			a.Tick(ctx)
			w.step(t)
			a.Tick(ctx)
			rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, nameFor(1)))
			if err != nil {
				t.Fatal(err)
			}
			if rec.IdleModel != tc.wantModel {
				t.Fatalf("record says idle_model %q, want %q", rec.IdleModel, tc.wantModel)
			}
			var calibrated bool
			for _, c := range a.Snapshot().Curves {
				calibrated = calibrated || c.Source == "calibrated"
			}
			if calibrated != tc.wantCurve {
				t.Fatalf("calibrated curve shown: %v, want %v", calibrated, tc.wantCurve)
			}
			if err := a.SaveFinal(); err != nil {
				t.Fatal(err)
			}
			saved, err := state.Load(cfg.StateFile)
			if err != nil {
				t.Fatal(err)
			}
			var kept bool
			if saved.PowerCurve != nil {
				for _, z := range saved.PowerCurve.Zones {
					kept = kept || z.Calibrated != nil
				}
			}
			if kept != tc.wantCurve {
				t.Fatalf("saved state keeps a calibrated curve: %v, want %v", kept, tc.wantCurve)
			}
			checkConservation(t, a.st, cfg.Zones)
		})
	}
}

// A curve measured while the host had RAPL (in the state, or configured)
// does not split an estimating meter's energy: records say idle_model
// time, and the state keeps the curve for when the host measures again.
func TestEstimatingMeterUsesNoMeasuredCurve(t *testing.T) {
	for _, mode := range []string{IdleModelAuto, IdleModelCurve} {
		t.Run(mode, func(t *testing.T) {
			w := newCurveWorld(t)
			w.m = estimatedMeter{w.m}
			cfg := testConfig(t)
			cfg.IdleModel = mode
			cfg.PowerCurve = map[string]CurveConfig{"package": {IdleWatts: 120, MarginalWattsPerCPU: 12}, "dram": {IdleWatts: 5, MarginalWattsPerCPU: 0.25}}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			st := state.New()
			st.PowerCurve = &powercurve.Saved{Zones: map[string]*powercurve.SavedZone{
				"package": {Calibrated: &powercurve.SavedCurve{IdleUW: 120_000_000, MarginalUWPerCPU: 12_000_000, Samples: 40}}}}
			if err := st.Save(cfg.StateFile, w.Now()); err != nil {
				t.Fatal(err)
			}
			a := w.agent(t, cfg)
			ctx := context.Background()
			a.Tick(ctx)
			for range 3 {
				w.step(t)
				a.Tick(ctx)
				rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, nameFor(1)))
				if err != nil {
					t.Fatal(err)
				}
				if rec.IdleModel != share.IdleModelTime {
					t.Fatalf("estimated energy split with idle_model %q, want time", rec.IdleModel)
				}
			}
			if err := a.SaveFinal(); err != nil {
				t.Fatal(err)
			}
			saved, err := state.Load(cfg.StateFile)
			if err != nil {
				t.Fatal(err)
			}
			if saved.PowerCurve == nil || saved.PowerCurve.Zones["package"] == nil || saved.PowerCurve.Zones["package"].Calibrated == nil {
				t.Fatalf("the measured curve is gone from the state: %+v", saved.PowerCurve)
			}
			checkConservation(t, a.st, cfg.Zones)
		})
	}
}
