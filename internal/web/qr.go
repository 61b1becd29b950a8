package web

import (
	"fmt"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// QRSVG draws text as a QR code in SVG: one path of unit squares with a
// four-module quiet zone, scaled by the viewBox, so it stays sharp at any
// size and costs no image library. Level M survives a phone camera
// reading a screen.
func QRSVG(text string) ([]byte, error) {
	code, err := encoder.Encoder_encode(text, decoder.ErrorCorrectionLevel_M, map[gozxing.EncodeHintType]any{gozxing.EncodeHintType_CHARACTER_SET: "UTF-8"})
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	m := code.GetMatrix()
	n := m.GetWidth()
	const quiet = 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code">`, n+2*quiet, n+2*quiet)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`)
	for y := range n {
		for x := 0; x < n; x++ {
			if m.Get(x, y) != 1 {
				continue
			}
			// Runs of dark modules become one rectangle.
			run := 1
			for x+run < n && m.Get(x+run, y) == 1 {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run - 1
		}
	}
	b.WriteString(`"/></svg>`)
	return []byte(b.String()), nil
}
