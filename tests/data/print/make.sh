#!/bin/sh
# Regenerates the sample print documents here from color3.ps (three pages:
# a red, a green and a blue square, with DSC comments) with Debian's
# ghostscript 10 and qpdf 11. gray2.ps is written by hand. The outputs are
# committed so that the tests need neither tool; see README.md.
set -eu
cd "$(dirname "$0")"
gs="gs -q -dNOPAUSE -dBATCH -dSAFER -r36 -sPAPERSIZE=a4"
$gs -sDEVICE=pdfwrite -o color3.pdf color3.ps
$gs -sDEVICE=ps2write -o color3-ps2write.ps color3.ps
# PWG raster: sRGB 8 bits, duplex long edge; sGray 8 bits, simplex
$gs -sDEVICE=pwgraster -dcupsColorSpace=19 -dcupsBitsPerColor=8 -dDuplex=true -o color3-duplex.pwg color3.ps
$gs -sDEVICE=pwgraster -dcupsColorSpace=18 -dcupsBitsPerColor=8 -o gray3.pwg color3.ps
# URF (Apple raster): sRGB duplex long edge; sGray duplex short edge (tumble)
$gs -sDEVICE=urf -dcupsColorSpace=19 -dcupsBitsPerColor=8 -dDuplex=true -o color3-duplex.urf color3.ps
$gs -sDEVICE=urf -dcupsColorSpace=18 -dcupsBitsPerColor=8 -dDuplex=true -dTumble=true -o gray3-tumble.urf color3.ps
# PCL 5, PCL 5 with a PJL header, PCL 5 duplex (ESC&l1S); PCL XL mono and colour duplex
$gs -sDEVICE=ljet4 -o color3.pcl color3.ps
$gs -sDEVICE=ljet4pjl -o color3-pjl.pcl color3.ps
$gs -sDEVICE=ljet4d -dDuplex=true -o color3-duplex.pcl color3.ps
$gs -sDEVICE=pxlmono -o color3-mono.pxl color3.ps
$gs -sDEVICE=pxlcolor -dDuplex=true -o color3-duplex.pxl color3.ps
# JPEG: colour (3 components) and grey (1 component), first page only
$gs -sDEVICE=jpeg -dLastPage=1 -o color.jpg color3.ps
$gs -sDEVICE=jpeggray -dLastPage=1 -o gray.jpg color3.ps
# encrypted PDFs: one needs a user password, one only restricts (owner password)
qpdf --encrypt user-secret owner-secret 256 -- color3.pdf encrypted-user.pdf
qpdf --encrypt "" owner-secret 256 -- color3.pdf encrypted-owner.pdf
