// dockerfile-check parses Dockerfiles with BuildKit's own frontend packages (the parser and
// instruction layer `docker build` uses) and prints, per file, one JSON object: the parse or
// instruction error, the parser's and the linter's warnings, any `# syntax=` directive, and
// every stage with its base image and its instructions as BuildKit understood them.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type warning struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Line    int    `json:"line"`
}

type command struct {
	Instruction string `json:"instruction"`
	Type        string `json:"type"`
	Line        int    `json:"line"`
	Value       any    `json:"value"`
}

type stage struct {
	Name     string    `json:"name"`
	BaseName string    `json:"baseName"`
	Platform string    `json:"platform"`
	Line     int       `json:"line"`
	Commands []command `json:"commands"`
}

type report struct {
	File     string    `json:"file"`
	Error    string    `json:"error,omitempty"`
	Syntax   string    `json:"syntax,omitempty"`
	Warnings []warning `json:"warnings"`
	MetaArgs []string  `json:"metaArgs"`
	Stages   []stage   `json:"stages"`
}

func firstLine(location []parser.Range) int {
	if len(location) == 0 {
		return 0
	}
	return location[0].Start.Line
}

func check(file string) report {
	r := report{File: file, Warnings: []warning{}, MetaArgs: []string{}, Stages: []stage{}}
	data, err := os.ReadFile(file)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if syntax, _, _, ok := parser.DetectSyntax(data); ok {
		r.Syntax = syntax
	}
	ast, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	for _, w := range ast.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		r.Warnings = append(r.Warnings, warning{Rule: "parser", Message: w.Short, Line: line})
	}
	lint := linter.New(&linter.Config{Warn: func(rule, description, url, message string, location []parser.Range) {
		r.Warnings = append(r.Warnings, warning{Rule: rule, Message: message, Line: firstLine(location)})
	}})
	stages, metaArgs, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			r.MetaArgs = append(r.MetaArgs, kv.Key)
		}
	}
	for _, s := range stages {
		out := stage{Name: s.Name, BaseName: s.BaseName, Platform: s.Platform, Line: firstLine(s.Location), Commands: []command{}}
		for _, c := range s.Commands {
			out.Commands = append(out.Commands, command{
				Instruction: strings.ToLower(c.Name()),
				Type:        strings.TrimPrefix(fmt.Sprintf("%T", c), "*instructions."),
				Line:        firstLine(c.Location()),
				Value:       c,
			})
		}
		r.Stages = append(r.Stages, out)
	}
	return r
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check DOCKERFILE...")
		os.Exit(2)
	}
	reports := make([]report, 0, len(os.Args)-1)
	failed := false
	for _, file := range os.Args[1:] {
		r := check(file)
		failed = failed || r.Error != ""
		reports = append(reports, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(reports); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
