package estimate

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// cpuEntry is one row of the CPU table with its normalised tokens.
type cpuEntry struct {
	name   string
	norm   string
	tokens map[string]bool
	watts  float64
}

type cpuTable struct {
	byNorm  map[string]int
	entries []cpuEntry // sorted by name
}

func parseCPUs(d namedData) (cpuTable, error) {
	rows, err := readCSV(d, "Name", "TDP")
	if err != nil {
		return cpuTable{}, err
	}
	t := cpuTable{byNorm: make(map[string]int, len(rows))}
	for _, row := range rows {
		w, err := strconv.ParseFloat(row["TDP"], 64)
		if err != nil || !(w > 0) {
			// A handful of upstream rows hold ranges such as "27.29.5" or 0 W: skip them.
			continue
		}
		toks := cpuTokens(row["Name"])
		if len(toks) == 0 {
			continue
		}
		t.entries = append(t.entries, cpuEntry{name: row["Name"], norm: strings.Join(toks, " "), tokens: tokenSet(toks), watts: w})
	}
	sort.Slice(t.entries, func(i, j int) bool { return t.entries[i].name < t.entries[j].name })
	for i, e := range t.entries {
		if _, dup := t.byNorm[e.norm]; !dup {
			t.byNorm[e.norm] = i
		}
	}
	return t, nil
}

// cpuNoise matches trademark marks and the frequency suffix of
// /proc/cpuinfo model names ("... CPU @ 2.50GHz"), as CodeCarbon strips them.
var cpuNoise = regexp.MustCompile(`\(r\)|\(tm\)|®|™|\bcpu @.*|@.*`)

// cpuTokens lower-cases a model name, strips cpuNoise and splits it on
// spaces and commas.
func cpuTokens(name string) []string {
	s := cpuNoise.ReplaceAllString(strings.ToLower(name), " ")
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}

func tokenSet(toks []string) map[string]bool {
	m := make(map[string]bool, len(toks))
	for _, t := range toks {
		m[t] = true
	}
	return m
}

// cpuTDP returns the thermal design power, in watts, of a CPU model as
// /proc/cpuinfo or lscpu names it (e.g. "Intel(R) Xeon(R) Gold 6248 CPU @
// 2.50GHz"). Like CodeCarbon it tries an exact match of the cleaned name
// first, then a token match: a table entry whose words are all in the model
// name (or the reverse), sharing at least one word with a digit (the model
// number, so that "Intel Xeon Processor (Skylake)" matches nothing); the
// entry sharing the most words wins, then the one with the fewest extra
// words, then the first by name. ok is false when nothing matches.
func cpuTDP(model string) (watts float64, ok bool) {
	_, watts, ok = CPUTDPMatch(model)
	return watts, ok
}

// CPUTDPMatch is cpuTDP that also names the table entry matched (as
// data/cpu_power.csv spells it), for logs and `virtwatt-host doctor`.
func CPUTDPMatch(model string) (name string, watts float64, ok bool) {
	cpus, err := loadCPUTable()
	if err != nil {
		return "", 0, false
	}
	e, ok := cpus.match(model)
	if !ok {
		return "", 0, false
	}
	return e.name, e.watts, true
}

func (t cpuTable) match(model string) (cpuEntry, bool) {
	toks := cpuTokens(model)
	if len(toks) == 0 {
		return cpuEntry{}, false
	}
	if i, ok := t.byNorm[strings.Join(toks, " ")]; ok {
		return t.entries[i], true
	}
	m := tokenSet(toks)
	best, bestShared, bestExtra := -1, 0, 0
	for i, e := range t.entries {
		shared, digit := 0, false
		for tok := range e.tokens {
			if m[tok] {
				shared++
				digit = digit || strings.ContainsAny(tok, "0123456789")
			}
		}
		if !digit || (shared != len(e.tokens) && shared != len(m)) {
			continue // neither is a subset of the other
		}
		extra := len(e.tokens) + len(m) - 2*shared
		if shared > bestShared || (shared == bestShared && extra < bestExtra) {
			best, bestShared, bestExtra = i, shared, extra
		}
	}
	if best < 0 {
		return cpuEntry{}, false
	}
	return t.entries[best], true
}
