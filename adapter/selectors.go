package adapter

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

// selectorParams are the query parameters of the metrics APIs that hold a
// label selector.
var selectorParams = []string{"labelSelector", "metricLabelSelector"}

// BuildHandlerChain is the generic API server's default handler chain
// around the metrics APIs, with malformed selectors refused as 400 before
// they reach them. Set it as the server config's BuildHandlerChainFunc.
func BuildHandlerChain(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
	return genericapiserver.DefaultBuildHandlerChain(refuseMalformedSelectors(apiHandler, c.Serializer), c)
}

// refuseMalformedSelectors answers 400, naming the parameter, for a
// selector that does not parse. custom-metrics-apiserver parses
// metricLabelSelector in its REST storage and returns the parse error as
// is: the generic server answers that with a 500 and logs it as an
// unhandled error, and the provider never sees the request. labelSelector
// is checked too, so that both mistakes read the same. It runs inside the
// chain, after authentication and authorization: an anonymous client
// learns nothing from it.
func refuseMalformedSelectors(next http.Handler, s runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, ok := request.RequestInfoFrom(req.Context())
		if !ok || !info.IsResourceRequest || req.URL.RawQuery == "" {
			next.ServeHTTP(w, req)
			return
		}
		query := req.URL.Query()
		for _, param := range selectorParams {
			// The library reads the first value, as url.Values.Get does.
			v := query.Get(param)
			if _, err := labels.Parse(v); err != nil {
				err := apierrors.NewBadRequest(fmt.Sprintf("%s %q is not a label selector: %s", param, clip(v), clip(err.Error())))
				responsewriters.ErrorNegotiated(err, s, schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}, w, req)
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// maxQuoted bounds what an error message quotes of the request.
const maxQuoted = 100

// clip shortens s to maxQuoted bytes, so that an error stays readable
// whatever was sent (the selector parser's own errors quote it too).
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
