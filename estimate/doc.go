// Package estimate holds virtwatt's pure estimation functions and the
// reference tables they need, embedded at build time: grid carbon intensity
// per country, US state, Nordic bidding zone and cloud region; emissions,
// water and embodied-emission arithmetic; everyday equivalents; and a CPU
// TDP table for machines without an energy meter.
//
// Nothing here does I/O beyond reading the embedded files, and nothing
// imports the rest of virtwatt, so both agents (and the guest's
// CGO_ENABLED=0 build) can use it. The source and vintage of every table is
// recorded in data/SOURCES.md and in the constants below.
package estimate
