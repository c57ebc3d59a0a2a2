package wechat

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
)

// JSSDKSignature signs a page for wx.config by the JS-SDK rule: sha1 over
// "jsapi_ticket=..&noncestr=..&timestamp=..&url=..", with the URL taken
// without its #fragment and not escaped. WeCom's agentConfig uses the same
// rule with its agent_config ticket.
func JSSDKSignature(ticket, nonceStr string, timestamp int64, pageURL string) string {
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	s := "jsapi_ticket=" + ticket + "&noncestr=" + nonceStr +
		"&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + pageURL
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
