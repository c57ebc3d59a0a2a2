// Package wechat holds the upstream clients of wxtoken: a core.Source for
// every credential kind of WeChat and WeCom, and the typed errors their
// endpoints answer with.
//
//	official account, mini program, mini game  GET  /cgi-bin/token              OfficialAccount
//	stable access_token                         POST /cgi-bin/stable_token       StableToken
//	WeCom app access_token                      GET  /cgi-bin/gettoken           WeCom
//	jsapi_ticket                                GET  /cgi-bin/ticket/getticket   JSAPITicket
//	WeCom jsapi / agent_config tickets          GET  /cgi-bin/get_jsapi_ticket, /cgi-bin/ticket/get
//	WeCom provider_access_token                 POST /cgi-bin/service/get_provider_token
//	WeCom suite_access_token                    POST /cgi-bin/service/get_suite_token
//	WeCom authorized corp access_token          POST /cgi-bin/service/get_corp_token
//
// Every Source takes WithBaseURL (to point it at wxsim or a proxy) and
// WithHTTPClient. No error it returns contains a secret: transport errors
// drop the request URL, and upstream messages have the request's secrets
// blanked out.
package wechat
