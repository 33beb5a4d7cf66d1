package xmlrpc

// The Go types of XML-RPC values, as DecodeCall produces them and as the
// encoder accepts them:
//
//	<string>, untyped <value>   string
//	<int>, <i4>, <i8>           int
//	<boolean>                   bool
//	<double>                    float64
//	<dateTime.iso8601>          time.Time (the wall clock sent, in UTC)
//	<base64>                    []byte
//	<array>                     []any
//	<struct>                    Struct
//	<nil/>, <ex:nil/>           nil
//
// The encoder also takes the other integer types, float32, []string, []int,
// []Struct and map[string]any (members sorted by name).

// Struct is an XML-RPC struct. Its members keep the order they were sent or
// built in: supervisord's structs have a fixed member order (Python dicts
// keep insertion order) that clients printing them show.
type Struct []Member

// Member is one named value of a Struct.
type Member struct {
	Name  string
	Value any
}

// Get returns the value of the member called name; when a struct repeats a
// name, the last one wins, as in the Python dict supervisord builds.
func (s Struct) Get(name string) (any, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Name == name {
			return s[i].Value, true
		}
	}
	return nil, false
}

// Call is a decoded methodCall.
type Call struct {
	Method string
	Params []any
}
