package api

import (
	"errors"
	"fmt"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DecodeStrict decodes a request body as the documentation promises:
// member names match exactly (no case folding), no member is repeated at
// any depth (a repeated name could be read one way by the server and
// another by a client), no unknown member is accepted, and nothing follows
// the value.
func DecodeStrict(data []byte, v any) error {
	err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsonv2.ErrUnknownName) && errors.As(err, &sem):
		return fmt.Errorf("unknown field %q (names are case-sensitive)", lastToken(string(sem.JSONPointer)))
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		return fmt.Errorf("field %q appears twice in the same object (at %q)", lastToken(string(syn.JSONPointer)), string(syn.JSONPointer))
	case errors.As(err, &syn) && strings.Contains(syn.Err.Error(), "after top-level value"):
		return errors.New("it has data after its JSON object")
	}
	return err
}

func lastToken(ptr string) string {
	if i := strings.LastIndexByte(ptr, '/'); i >= 0 {
		ptr = ptr[i+1:]
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(ptr)
}
