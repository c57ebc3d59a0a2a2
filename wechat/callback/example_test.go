package callback_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// A handler for a WeCom suite's instruction callback: the GET that saves
// the URL on the console is answered with the decrypted echostr; a POST is
// opened, parsed and answered "success".
func Example() {
	crypto, err := callback.New("tok3n", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wwsuite01")
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			echo, err := crypto.VerifyURL(r.URL.Query(), time.Now())
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			fmt.Fprint(w, echo)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, callback.MaxBody+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e, err := crypto.OpenEvent(r.URL.Query(), body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		fmt.Println("received", e.InfoType, e.SuiteTicket)
		fmt.Fprint(w, "success")
	})

	// What WeCom would push: the event sealed with the same Token and key.
	event, _ := callback.Event{InfoType: callback.InfoSuiteTicket, SuiteID: "wwsuite01",
		TimeStamp: time.Now().Unix(), SuiteTicket: "ticket-1"}.Marshal()
	body, q, _ := crypto.Seal(event, time.Now(), "1372623149")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/callback?"+q.Encode(), strings.NewReader(string(body))))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// received suite_ticket ticket-1
	// 200 success
}
