package domxml

import (
	"fmt"
	"strings"
)

// Diff is a line diff of a and b in unified style ("-" removed, "+"
// added, context lines around each change, "@@" before each hunk). It is
// empty when a == b. Domain definitions are a few hundred lines, so the
// quadratic longest-common-subsequence table is fine.
func Diff(a, b string, context int) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
		ai   int // line number in a (1-based) of this or the next a line
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, line{' ', x[i], i + 1})
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, line{'+', y[j], i + 1})
			j++
		default:
			ops = append(ops, line{'-', x[i], i + 1})
			i++
		}
	}
	var sb strings.Builder
	last := -1 // last op index printed
	for k := range ops {
		if k <= last || ops[k].op == ' ' {
			continue
		}
		from := max(k-context, last+1)
		if from > last+1 || last < 0 || from == 0 {
			fmt.Fprintf(&sb, "@@ line %d @@\n", ops[from].ai)
		}
		to := k
		// extend over following changes closer than 2*context
		for t := k + 1; t < len(ops) && t <= to+2*context; t++ {
			if ops[t].op != ' ' {
				to = t
			}
		}
		to = min(to+context, len(ops)-1)
		for t := from; t <= to; t++ {
			sb.WriteByte(ops[t].op)
			sb.WriteString(ops[t].text)
			sb.WriteByte('\n')
		}
		last = to
	}
	return sb.String()
}
