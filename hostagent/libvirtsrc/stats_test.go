package libvirtsrc

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domain"
)

func TestMapState(t *testing.T) {
	tests := []struct {
		in   *libvirt.DomainStatsState
		want domain.State
	}{
		{nil, domain.StateOther},
		{&libvirt.DomainStatsState{StateSet: false, State: libvirt.DOMAIN_RUNNING}, domain.StateOther},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_RUNNING}, domain.StateRunning},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_BLOCKED}, domain.StateRunning},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_SHUTDOWN}, domain.StateRunning},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_PAUSED}, domain.StatePaused},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_PMSUSPENDED}, domain.StatePaused},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_SHUTOFF}, domain.StateShutoff},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_CRASHED}, domain.StateOther},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_NOSTATE}, domain.StateOther},
		{&libvirt.DomainStatsState{StateSet: true, State: libvirt.DomainState(99)}, domain.StateOther},
	}
	for _, tt := range tests {
		if got := mapState(tt.in); got != tt.want {
			t.Errorf("mapState(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromStats(t *testing.T) {
	running := &libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_RUNNING}
	tests := []struct {
		name string
		st   libvirt.DomainStats
		want domain.Domain
	}{
		{
			name: "qemu running, two vcpus",
			st: libvirt.DomainStats{
				State: running,
				Cpu:   &libvirt.DomainStatsCPU{TimeSet: true, Time: 5_000_000_000},
				Vcpu: []libvirt.DomainStatsVcpu{
					{StateSet: true, State: libvirt.VCPU_RUNNING, TimeSet: true, Time: 1_500_000_000},
					{StateSet: true, State: libvirt.VCPU_BLOCKED, TimeSet: true, Time: 2_000_000_000},
				},
			},
			want: domain.Domain{State: domain.StateRunning, VCPUs: 2, VCPUTimeNS: 3_500_000_000, CPUTimeNS: 5_000_000_000},
		},
		{
			name: "hot-unplugged vcpu slot has no state",
			st: libvirt.DomainStats{
				State: running,
				Vcpu: []libvirt.DomainStatsVcpu{
					{StateSet: true, TimeSet: true, Time: 7},
					{},
					{StateSet: true, TimeSet: true, Time: 3},
				},
			},
			want: domain.Domain{State: domain.StateRunning, VCPUs: 2, VCPUTimeNS: 10},
		},
		{
			name: "inactive: maximum slots only",
			st: libvirt.DomainStats{
				State: &libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_SHUTOFF},
				Vcpu:  make([]libvirt.DomainStatsVcpu, 4),
			},
			want: domain.Domain{State: domain.StateShutoff},
		},
		{
			name: "test driver: state only",
			st:   libvirt.DomainStats{State: &libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_PAUSED}},
			want: domain.Domain{State: domain.StatePaused},
		},
		{
			name: "cpu present without time",
			st:   libvirt.DomainStats{State: running, Cpu: &libvirt.DomainStatsCPU{UserSet: true, User: 9}},
			want: domain.Domain{State: domain.StateRunning},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromStats("u", "n", tt.st)
			tt.want.UUID, tt.want.Name = "u", "n"
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fromStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConnectionError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR}, true},
		{libvirt.Error{Code: libvirt.ERR_RPC}, true},
		{libvirt.Error{Code: libvirt.ERR_NO_CONNECT}, true},
		{libvirt.Error{Code: libvirt.ERR_INVALID_CONN}, true},
		{fmt.Errorf("wrapped: %w", libvirt.Error{Code: libvirt.ERR_RPC}), true},
		{libvirt.Error{Code: libvirt.ERR_OPERATION_INVALID}, false},
		{libvirt.Error{Code: libvirt.ERR_NO_DOMAIN}, false},
		{errors.New("plain"), false},
	}
	for _, tt := range tests {
		if got := connectionError(tt.err); got != tt.want {
			t.Errorf("connectionError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	lo, hi := time.Second, 5*time.Second
	var got []time.Duration
	b := time.Duration(0)
	for range 5 {
		b = nextBackoff(b, lo, hi)
		got = append(got, b)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoff sequence %v, want %v", got, want)
	}
}
