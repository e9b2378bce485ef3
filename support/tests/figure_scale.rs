//! The process-wide figure scale: `plot::set_figure_scale` sets an environment variable that
//! every later figure reads, whichever copy of the crate draws it (evcxr gives each notebook
//! cell its own copy of every `static`, but one process environment). Its own test binary,
//! because it changes the environment of the process.

use support::plot::{self, FIGURE_SCALE_ENV};
use support::Error;

#[test]
fn set_figure_scale_reaches_every_later_figure_through_the_environment() {
    let values = [1.0f64, 2.0, 2.0, 3.0, 5.0];
    let plain = plot::histogram(&values, 0, "width").unwrap();
    assert_eq!((plain.scale(), plain.size()), (1, (640, 440)));

    plot::set_figure_scale(2).unwrap();
    assert_eq!(std::env::var(FIGURE_SCALE_ENV).unwrap(), "2");
    let hidpi = plot::histogram(&values, 0, "width").unwrap();
    assert_eq!(hidpi.size(), (1280, 880));
    assert_eq!(hidpi.display_size(), (640, 440));
    // A per-call scale wins over the process-wide one.
    let one = plot::with_figure_scale(1, || plot::histogram(&values, 0, "width"))
        .unwrap()
        .unwrap();
    assert_eq!(one.size(), (640, 440));

    // A refused scale leaves the setting as it was.
    assert!(matches!(
        plot::set_figure_scale(9),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(plot::figure_scale().unwrap(), 2);

    // A bad value set outside the program is reported, naming the variable.
    std::env::set_var(FIGURE_SCALE_ENV, "retina");
    let e = plot::histogram(&values, 0, "width").unwrap_err();
    assert!(e.to_string().contains(FIGURE_SCALE_ENV), "{e}");
    std::env::remove_var(FIGURE_SCALE_ENV);
    assert_eq!(plot::figure_scale().unwrap(), 1);
}
