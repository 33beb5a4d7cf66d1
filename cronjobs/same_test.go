package cronjobs

import (
	"reflect"
	"testing"
	"time"
)

// TestSameSeesEveryField changes each field of Job in turn: Same must see
// every change of what a job runs, how or when, and may leave out only the
// fields listed in notCompared (with the reason). A field added to Job
// fails here until it is compared in Same or listed.
func TestSameSeesEveryField(t *testing.T) {
	notCompared := map[string]string{
		"Line":     "where, not what: an unnamed job moved to another line is the same job",
		"Schedule": "made from Spec and Location, which are compared",
		"Reboot":   "made from Spec",
	}
	f, err := Parse("cron", []byte("CRON_TZ=Europe/Paris\nA=1\n# name: backup\n30 2 * * 1-5 /bin/backup %in\n@daily /bin/other\n"))
	if err != nil {
		t.Fatal(err)
	}
	job, other := f.Jobs[0], f.Jobs[1]
	typ := reflect.TypeOf(job)
	for i := range typ.NumField() {
		field := typ.Field(i)
		changed := job
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch {
		case v.Kind() == reflect.String:
			v.SetString(v.String() + "x")
		case v.Kind() == reflect.Int:
			v.SetInt(v.Int() + 1)
		case v.Kind() == reflect.Bool:
			v.SetBool(!v.Bool())
		case v.Kind() == reflect.Slice: // a copy with one more element
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len()+1)
			reflect.Copy(s, v)
			v.Set(reflect.Append(s, reflect.Zero(v.Type().Elem())))
		case field.Type == reflect.TypeOf(time.UTC):
			v.Set(reflect.ValueOf(time.UTC))
		case field.Type == reflect.TypeOf((*Schedule)(nil)).Elem():
			v.Set(reflect.ValueOf(other.Schedule))
		default:
			t.Fatalf("Job.%s: teach this test to change a %s", field.Name, field.Type)
		}
		if reflect.DeepEqual(job, changed) {
			t.Fatalf("Job.%s: the change changed nothing", field.Name)
		}
		_, skipped := notCompared[field.Name]
		switch same := job.Same(changed); {
		case skipped && !same:
			t.Errorf("Job.%s is listed as not compared, but Same sees its change: update the list", field.Name)
		case !skipped && same:
			t.Errorf("Job.%s: Same does not see it change: compare it in Same, or list it in notCompared with the reason", field.Name)
		}
	}
}
